"""Developer tools that are not part of the deployed function."""
