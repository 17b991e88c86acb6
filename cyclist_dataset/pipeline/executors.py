"""Where work units (one video through the selected stages) run: here, in local processes, or on
Ray.

Every executor runs the same unit function, ``unit.run_video``, so resume logic, atomic writes
and results are the same everywhere; executors only decide where and how many at once.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Protocol

from cyclist_dataset.core.config import PipelineConfig
from cyclist_dataset.errors import ConfigError, UserError
from cyclist_dataset.io import progress
from cyclist_dataset.io.assets import CACHE_ENV, MIRROR_ENV
from cyclist_dataset.pipeline.unit import VideoResult, run_video


class Executor(Protocol):
    def run(
        self, config: PipelineConfig, video_ids: list[str], stages: tuple[str, ...], force: bool
    ) -> Iterator[VideoResult]: ...


def _sized(config: PipelineConfig, cpus_per_worker: int) -> PipelineConfig:
    """Each worker's detector uses only the CPUs it was given: one onnxruntime session per CPU, and
    no decode thread beside a single one (it would take CPU time from the other workers)."""
    cpus = max(1, cpus_per_worker)
    runtime = config.runtime.model_copy(update={"inference_workers": cpus, "prefetch": cpus > 1})
    return config.model_copy(update={"runtime": runtime})


def die_with_parent() -> None:
    """Linux: have the kernel kill this process when the process that started it dies (a killed
    `run` leaves no workers behind). Elsewhere a no-op."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)


def _start_worker(progress_mode: str) -> None:
    """A worker process: dies with its parent; under the driver's bars it shows no progress of
    its own (tqdm cannot place bars of several processes on one screen: see io/progress.py)."""
    die_with_parent()
    progress.configure("off" if progress_mode == "bars" else progress_mode)


class LocalExecutor:
    """``workers == 1``: in this process, one video after another (the detector itself uses every
    core). ``workers > 1``: that many processes, each with ``cores / workers`` CPUs for its
    detector."""

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise UserError(f"--workers must be at least 1, got {workers}")
        self.workers = workers

    def run(self, config, video_ids, stages, force) -> Iterator[VideoResult]:
        if self.workers == 1:
            for video_id in video_ids:
                yield run_video(config, video_id, stages, force)
            return
        sized = _sized(config, (os.cpu_count() or 1) // self.workers)
        # Spawned, not forked: a forked worker would inherit the workspace lock's file and keep the
        # workspace locked after its parent was killed. And each worker dies with its parent.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            self.workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(progress.current_mode(),),
        ) as pool:
            futures = [
                pool.submit(run_video, sized, video_id, stages, force) for video_id in video_ids
            ]
            for future in as_completed(futures):
                yield future.result()


class RayExecutor:
    """Video units on a Ray cluster: ``workers`` actors, each loading the models once and holding
    ``cpus_per_worker`` CPUs (and ``gpus_per_worker`` GPUs). A worker that dies mid-unit is
    restarted and the unit retried; since every result is written atomically with a fingerprint, a
    retried unit redoes exactly what was unfinished."""

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        cpus_per_worker: int = 1,
        gpus_per_worker: float = 0,
        max_retries: int = 3,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise UserError(
                "--executor ray needs Ray: pip install 'cyclist-dataset[ray]'"
            ) from None
        self.ray = ray
        self.address = address
        self.workers = workers
        self.cpus_per_worker = cpus_per_worker
        self.gpus_per_worker = gpus_per_worker
        self.max_retries = max_retries

    def _connect(self) -> None:
        if self.ray.is_initialized():
            return
        env = {name: os.environ[name] for name in (CACHE_ENV, MIRROR_ENV) if name in os.environ}
        self.ray.init(
            address=self.address,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": env} if env else None,
        )

    def run(self, config, video_ids, stages, force) -> Iterator[VideoResult]:
        from ray.util import ActorPool

        self._connect()
        cluster_cpus = int(self.ray.cluster_resources().get("CPU", 1))
        workers = self.workers or max(1, cluster_cpus // self.cpus_per_worker)
        worker_class = self.ray.remote(_VideoWorker).options(
            num_cpus=self.cpus_per_worker,
            num_gpus=self.gpus_per_worker,
            max_restarts=self.max_retries,
            max_task_retries=self.max_retries,
        )
        sized = _sized(config, self.cpus_per_worker)
        actors = [worker_class.remote(sized) for _ in range(min(workers, len(video_ids)))]
        pool = ActorPool(actors)
        try:
            yield from pool.map_unordered(
                lambda actor, v: actor.run.remote(v, stages, force), video_ids
            )
        except self.ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, ConfigError):  # the whole run's problem, as locally
                raise exc.cause from None
            raise
        finally:
            for actor in actors:
                self.ray.kill(actor)  # type: ignore[arg-type]  # ray's stubs: remote() is a handle


class _VideoWorker:
    """A Ray actor: holds one pipeline context (models loaded once) and runs video units."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config

    def run(self, video_id: str, stages: tuple[str, ...], force: bool) -> VideoResult:
        return run_video(self.config, video_id, stages, force)


def make_executor(
    name: str,
    workers: int | None = None,
    address: str | None = None,
    cpus_per_worker: int = 1,
    gpus_per_worker: float = 0,
) -> Executor:
    if name == "local":
        return LocalExecutor(workers or 1)
    if name == "ray":
        return RayExecutor(address, workers, cpus_per_worker, gpus_per_worker)
    raise UserError(f"unknown executor {name!r}; use local or ray")
