"""comfytui's UI-free core: everything the dashboard, the headless CLI and the tests share.

Rooms (each a package whose docstring says what it holds and what it may import):

- `comfy`: the ComfyUI client, websocket stream, protocol decoders, events, job reducer, session.
- `workflows`: workflow sources and library, loading, PNG metadata, editor→API conversion,
  parameters, seeds and batches, preflight, the server's user data.
- `lifecycle`: the ComfyUI container (podman) or process: spec, preflight, phases, manager.
- `gpu`: NVML sampling, the GPU feed, process → container attribution.
- `models`: model catalog, hashing, safetensors headers.
- `store`: the journal of jobs that survives restarts.

At the root, used by every room: `config`, `paths`, `errors`, `logs` (log lines and their buffer).
Arrows point one way: entry (`cli`) → `tui` / `headless` → `core`; nothing in `core` imports
`tui`, `headless`, `cli`, Textual or Rich.
"""
