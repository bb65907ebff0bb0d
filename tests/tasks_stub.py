"""A Cloud Tasks gRPC endpoint that keeps task names as Cloud Tasks does; the emulator does not.

gcloud-tasks-emulator accepts the same task name any number of times, so it cannot show the
`ALREADY_EXISTS` answer that makes duplicate callbacks one task. This server speaks the real
`google.cloud.tasks.v2.CloudTasks/CreateTask` method over a real gRPC channel, so the real client
raises exactly what it raises in production; it only records tasks and dispatches nothing.
"""

from __future__ import annotations

import threading
from concurrent import futures
from typing import Any

import grpc
from google.cloud import tasks_v2


class NamingQueue:
    """CreateTask only: the first task of a name is kept, every later one is refused ALREADY_EXISTS."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.tasks: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handler = grpc.method_handlers_generic_handler(
            "google.cloud.tasks.v2.CloudTasks",
            {
                "CreateTask": grpc.unary_unary_rpc_method_handler(
                    self._create,
                    request_deserializer=tasks_v2.CreateTaskRequest.deserialize,
                    response_serializer=tasks_v2.Task.serialize,
                )
            },
        )
        self._server.add_generic_rpc_handlers((handler,))
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _create(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self._lock:
            self.requests.append(request)
            if request.task.name in self.tasks:
                context.abort(grpc.StatusCode.ALREADY_EXISTS, "Requested entity already exists")
            self.tasks[request.task.name] = request.task
        return request.task

    def start(self) -> NamingQueue:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=0)
