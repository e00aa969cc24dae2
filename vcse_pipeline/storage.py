"""The shared data folder: every worker that runs a task of one pipeline must see the same one.

Airflow tasks hand each other absolute paths under the data folder, and the register build reads every source's
staging file, so a worker that mounts another folder (or none: a local disk) would stage or build from other files
without any error of its own. Two checks make that loud:

- a storage id: a random id written once into `<data_dir>/.vcse-storage-id`. The first task of a run records the id
  it sees and every later task checks that it sees the same one (`check_storage`), so a task on a worker with
  another folder fails at its start;
- announced releases: a source DAG's asset event carries the fingerprint of the release it staged (and its storage
  id); the register run compares them with the staging files it is about to read (`check_announced`).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from pathlib import Path

from .clock import now_iso
from .config import Config
from .errors import DivergedStorageError

STORAGE_ID_FILE = ".vcse-storage-id"
HELP = "every worker must mount the one shared data folder at the same path (docs/operations.md, several machines)"


def storage_id_path(cfg: Config) -> Path:
    return cfg.data_dir / STORAGE_ID_FILE


def read_storage_id(cfg: Config) -> str | None:
    try:
        return json.loads(storage_id_path(cfg).read_text(encoding="utf-8"))["id"]
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise DivergedStorageError(f"{storage_id_path(cfg)} is not a storage id file ({exc}): remove it only if "
                                   "no pipeline run is in progress, and the next run writes a new one") from None


def ensure_storage_id(cfg: Config) -> str:
    """The data folder's id, written on first use. Exclusive creation: two first tasks at once agree on one id."""
    found = read_storage_id(cfg)
    if found:
        return found
    path = storage_id_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"id": secrets.token_hex(16), "created_at": now_iso(),
              "created_on": socket.gethostname(), "data_dir": str(cfg.data_dir)}
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record) + "\n", encoding="utf-8")
    try:
        os.link(tmp, path)  # fails if another task created it first: then theirs is the id
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return read_storage_id(cfg)


def check_storage(cfg: Config, expected: str | None, step: str) -> None:
    """Refuse to run `step` on a worker whose data folder is not the one the run started on."""
    if not expected:
        return  # a run started by code that recorded no id (before an upgrade): nothing to compare
    found = read_storage_id(cfg)
    if found != expected:
        seen = f"holds storage id {found[:12]}" if found else f"has no {STORAGE_ID_FILE}"
        raise DivergedStorageError(f"{step} on {socket.gethostname()}: data folder {cfg.data_dir} {seen}, but this "
                                   f"run started on storage id {expected[:12]}: this worker does not share the run's "
                                   f"data folder; {HELP}")


def check_announced(cfg: Config, events: list[dict], storage_id: str) -> None:
    """Refuse to build when a staging file is not the release its source DAG announced in its latest asset event.

    `events` are plain dicts (airflow_tasks.announced_staging): source, fingerprint, storage_id, dag_id, run_id,
    timestamp. An event without a fingerprint (one made by hand in the UI) announces nothing to check.
    """
    from .fingerprint import staging_fingerprint

    problems = []
    for event in events:
        announced = event.get("fingerprint")
        if not announced:
            continue
        source = event["source"]
        found = staging_fingerprint(cfg, source)
        if found == announced:
            continue  # the data is the announced data, whichever folder id it was staged under
        where = f"{event.get('dag_id') or 'a source DAG'} run {event.get('run_id') or '?'} at {event.get('timestamp')}"
        holds = f"{cfg.staging_path(source)} holds {(found or 'no recorded release')[:12]}"
        if event.get("storage_id") and event["storage_id"] != storage_id:
            problems.append(f"{source} was staged ({announced[:12]}) by {where} on a worker whose data folder is "
                            f"another (storage id {event['storage_id'][:12]}, here {storage_id[:12]}); {holds}")
        else:
            problems.append(f"{source}: {where} announced release {announced[:12]}, but {holds}")
    if problems:
        raise DivergedStorageError("staging is not what the source DAGs announced, so the register would be built "
                                   "from other data: " + "; ".join(problems) + f"; {HELP}")
