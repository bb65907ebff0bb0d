"""The provider binding packages the schema comes from: exact versions and their npm integrity."""

from __future__ import annotations

# The prebuilt CDK for Terraform bindings carry each provider's schema. HashiCorp stopped publishing them
# on 2025-12-10, so these are the last: google 6.50.0, time 0.13.1, archive 2.7.1 (infra/versions.tf
# constrains the providers to these major versions so that what is checked is what deploys).
PACKAGES: dict[str, tuple[str, str]] = {
    "@cdktf/provider-google": (
        "16.12.1",
        "sha512-KqNA/5RiFT07r0PSZ6/07cJ2zESUgbj1JchVj21iBFBZVUbD+578xA/k8eq/r0cbyEgLmg9eYWeVslaYah4DCQ==",
    ),
    "@cdktf/provider-time": (
        "11.0.1",
        "sha512-FI0xFIcfF7U0t+pk7NNNJujiCxIOw6wL0I61/LEgPC59WWcGVrRPdj5F7YvEEpgcWkse6YrYc9soumsTQa5WYg==",
    ),
    "@cdktf/provider-archive": (
        "11.0.1",
        "sha512-2Plwhj1hVUOYmQrxNbBvy2nrw/gyHZKnQFauPCwjhQX+MpRImF7cceKgX8zZgBPvB5YEP75MIFPbr4sjxDWeHw==",
    ),
}
