"""The Kustomizer: builds BuildRequests in a shared pool, batched, with an on-disk cache."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from greenfield.adapters.kustomize.batches import BatchRunner
from greenfield.adapters.kustomize.job import Job
from greenfield.adapters.kustomize.prepare import BuildPreparation
from greenfield.core.engine import BuildOutput, BuildRequest


class Kustomizer(BuildPreparation, BatchRunner):
    """Runs builds in parallel (2 workers by default) with an on-disk cache."""

    # -- public --------------------------------------------------------------------------------------
    def build_many(self, requests: Sequence[BuildRequest]) -> list[BuildOutput]:
        """Build in the shared pool, batched: one kustomize process builds several Kustomizations (it loads
        its OpenAPI schema once per process, the dominant cost of a patched build). A request already built
        or in flight (e.g. for another cluster, or started ahead by `start`) is reused."""
        return [future.result() for future in self._submit(requests)]

    def start(self, requests: Sequence[BuildRequest]) -> None:
        """Begin these builds without waiting (what the last run built, before the walk asks for it)."""
        self._submit(requests)

    def requests_started(self) -> list[BuildRequest]:
        """Every build asked for so far (done or not), in order."""
        with self._lock:
            return list(self._futures)

    def finished(self) -> list[BuildOutput]:
        """The builds done so far that succeeded or failed normally, in the order they were asked for."""
        with self._lock:
            futures = list(self._futures.values())
        return [future.result() for future in futures if future.done() and future.exception() is None]

    def _submit(self, requests: Sequence[BuildRequest]) -> list[Future[BuildOutput]]:
        mine: list[tuple[BuildRequest, Future[BuildOutput]]] = []
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="kustomize")
            futures = []
            for request in requests:
                future = self._futures.get(request)
                if future is None:
                    future = Future()
                    self._futures[request] = future
                    mine.append((request, future))
                futures.append(future)
        jobs: list[Job] = []
        for request, future in mine:
            try:
                output, job = self._prepare(request)
            except Exception as error:  # never leave a future unresolved
                future.set_exception(error)
                continue
            if job is None:
                future.set_result(output)
            else:
                job.future = future
                jobs.append(job)
        for batch in self._batches(jobs):
            self._pool.submit(self._run_batch, batch)
        return futures

    def close(self) -> None:
        # never wait for the pool while holding the lock: a build still running (one started ahead by the
        # prefetch that the walk never asked for) takes the lock to finish, and would wait forever
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        with self._lock:
            self._futures.clear()

    def __enter__(self) -> Kustomizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def build(self, request: BuildRequest) -> BuildOutput:
        """One build, synchronously (no batching)."""
        output, job = self._prepare(request)
        if job is not None:
            self._run_batch([job], allow_split=False)
        return output
