"""comfytui's UI-free core: everything the dashboard, the headless CLI and the tests share.

Rooms (each a package whose docstring says what it holds and what it may import):

- `comfy`: the ComfyUI client, websocket stream, protocol decoders, events, job reducer, session.
- `workflows`: workflow sources and library, loading, PNG metadata, editor→API conversion,
  parameters, seeds and batches, preflight, the server's user data.
- `lifecycle`: the ComfyUI container (podman) or process: spec, preflight, phases, manager.
- `gpu`: NVML sampling, the GPU feed, process → container attribution.
- `models`: model catalog, hashing, safetensors headers.
- `store`: the SQLite store of jobs, queue and history that survives restarts.
- `queue`: the local queue in front of ComfyUI: submit path, operations, dispatcher, fleet,
  output collection, notifications.
- `metrics`: Prometheus families over the other rooms (the top of the core).

At the root, used by every room: `config`, `config_template`, `paths`, `errors`, `redaction`,
`logs` (log lines, control-character stripping and their buffer), `themes`, `processes`.
Arrows point one way: entry (`cli`) → `tui` / `headless` → `core`; nothing in `core` imports
`tui`, `headless`, `cli`, Textual or Rich.
"""
