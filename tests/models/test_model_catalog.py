"""ModelCatalog against the real CPU ComfyUI, plus the pure helpers (flags, sorting, filtering)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import uuid
from pathlib import Path

import httpx
import pytest
from safetensors_files import (
    CHECKPOINT,
    LORA,
    VAE,
    corrupt_header,
    huge_header_length,
    safetensors_bytes,
    write,
)

from comfytui.core.comfy.client import ComfyClient
from comfytui.core.config import Config, ContainerSettings, ModelSettings, ServerSettings
from comfytui.core.errors import InputError, ServerError, ServerUnreachable
from comfytui.core.lifecycle.hostpaths import server_path_map
from comfytui.core.lifecycle.spec import COMFY_ROOT
from comfytui.core.models.catalog import (
    KNOWN_FOLDERS,
    ModelCatalog,
    ModelEntry,
    classify_header,
    filter_entries,
    format_bytes,
    is_loopback_url,
    map_container_path,
    name_hint,
    normalize_folder,
    sort_entries,
)
from comfytui.core.models.hashing import HashCache
from comfytui.core.models.safetensors import parse_header

# ---------------------------------------------------------------------------------------------
# pure helpers


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8188", True), ("http://127.8.9.10", True), ("http://localhost:8188/", True),
        ("http://[::1]:8188", True), ("https://comfy.localhost", True), ("127.0.0.1:8188", True),
        ("http://192.168.1.5:8188", False), ("http://gpu-box:8188", False), ("http://[::2]", False),
        ("http://10.0.0.1", False), ("not a url", False),
    ],
)
def test_is_loopback_url(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_normalize_folder_aliases() -> None:
    assert normalize_folder("clip") == "text_encoders"
    assert normalize_folder("UNET") == "diffusion_models"
    assert normalize_folder("loras/") == "loras"


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("sd_xl_base_1.0.safetensors", None),
        ("sd_xl_base_1.0_0.9vae.safetensors", None),
        ("v1-5-pruned-emaonly.ckpt", None),
        ("sdxl_vae.safetensors", "a VAE"),
        ("vae-ft-mse-840000-ema-pruned.safetensors", "a VAE"),
        ("taesd_decoder.pth", "a tiny autoencoder (TAESD)"),
        ("add_detail_lora.safetensors", "a LoRA"),
        ("sub/my-LoRA-v2.safetensors", "a LoRA"),
        ("clip_l.safetensors", "a text encoder"),
        ("t5xxl_fp16.safetensors", "a text encoder"),
        ("control_v11p_sd15_canny.pth", "a ControlNet"),
        ("4x-UltraSharp.pth", "an upscaler"),
        ("RealESRGAN_x4plus.pth", "an upscaler"),
        ("easynegative_embedding.pt", "an embedding"),
        ("ip-adapter_sd15.safetensors", "an IP-Adapter"),
    ],
)
def test_name_hint(name: str, hint: str | None) -> None:
    assert name_hint(name) == hint


def _header(names: list[str]) -> object:
    import json

    return parse_header(json.dumps({n: {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]} for n in names}).encode())


@pytest.mark.parametrize(
    ("names", "kind"),
    [
        (list(CHECKPOINT), "checkpoint"),
        (list(VAE), "VAE"),
        (["first_stage_model.encoder.x"], "VAE"),
        (list(LORA), "LoRA"),
        (["unet.down.lora_A.weight"], "LoRA"),
        (["control_model.input_hint_block.0.weight"], "ControlNet"),
        (["double_blocks.0.img_attn.qkv.weight"], "diffusion model"),
        (["text_model.encoder.layers.0.mlp.fc1.weight"], "text encoder"),
        (["emb_params"], "embedding"),
        (["conv_first.weight", "body.0.weight"], "upscaler"),
        (["something.else"], "unknown"),
    ],
)
def test_classify_header(names: list[str], kind: str) -> None:
    assert classify_header(_header(names)) == kind


def _e(name: str, size: int | None, modified: float | None, folder: str = "checkpoints") -> ModelEntry:
    return ModelEntry(folder, name, size, modified, None, name.endswith(".safetensors"))


def test_sort_and_filter() -> None:
    entries = [_e("b.safetensors", 30, 3.0), _e("A.safetensors", 10, None), _e("c.ckpt", None, 1.0),
               _e("sub/SDXL Base.safetensors", 20, 2.0, "diffusion_models")]
    assert [e.name for e in sort_entries(entries)] == ["A.safetensors", "b.safetensors", "c.ckpt",
                                                       "sub/SDXL Base.safetensors"]
    assert [e.name for e in sort_entries(entries, "size")][:3] == ["A.safetensors", "sub/SDXL Base.safetensors",
                                                                   "b.safetensors"]
    assert sort_entries(entries, "size")[-1].name == "c.ckpt"  # unknown size last
    assert [e.name for e in sort_entries(entries, "size", reverse=True)][0] == "b.safetensors"
    assert [e.name for e in sort_entries(entries, "date", reverse=True)][:3] == [
        "b.safetensors", "sub/SDXL Base.safetensors", "c.ckpt"]
    assert [e.name for e in filter_entries(entries, "sdxl BASE")] == ["sub/SDXL Base.safetensors"]
    assert [e.name for e in filter_entries(entries, "diffusion sdxl")] == ["sub/SDXL Base.safetensors"]
    assert [e.name for e in filter_entries(entries, "safetensors b")] == ["b.safetensors", "sub/SDXL Base.safetensors"]
    assert filter_entries(entries, "  ") == entries
    assert filter_entries(entries, "nothing") == []


def test_format_bytes() -> None:
    assert [format_bytes(n) for n in (None, 0, 1023, 1024, 6_938_040_682)] == ["-", "0 B", "1023 B", "1.0 KiB",
                                                                               "6.5 GiB"]


# ---------------------------------------------------------------------------------------------
# against the real server

pytest_comfy = pytest.mark.comfy


@pytest.fixture(scope="module")
def model_files(comfy_server):
    """Files in the shared server's model folders, under a per-run subfolder removed afterwards."""
    tag = f"gm-{uuid.uuid4().hex[:8]}"
    models = Path(comfy_server.base) / "models"
    ck, lo = models / "checkpoints" / tag, models / "loras" / tag
    files = {
        "good": write(ck / "good.safetensors", safetensors_bytes(CHECKPOINT, {"modelspec.title": "Good"})),
        "vae": write(ck / "sdxl_vae.safetensors", safetensors_bytes(VAE)),
        "unnamed_vae": write(ck / "mystery.safetensors", safetensors_bytes(VAE)),
        "corrupt": write(ck / "corrupt.safetensors", corrupt_header()),
        "empty": write(ck / "empty.safetensors", b""),
        "huge": write(ck / "huge.safetensors", huge_header_length()),
        "ckpt": write(ck / "legacy.ckpt", b"PK\x03\x04 not really a zip"),
        "lora": write(lo / "style.safetensors", safetensors_bytes(LORA, {"ss_network_dim": "4"})),
    }
    write(ck / "notes.txt", b"ignored: not a model extension")
    yield tag, files
    shutil.rmtree(ck, ignore_errors=True)
    shutil.rmtree(lo, ignore_errors=True)


def _config(url: str, **models) -> Config:
    return Config(server=ServerSettings(url=url, timeout_s=10), models=ModelSettings(**models))


def _mine(entries: list[ModelEntry], tag: str) -> dict[str, ModelEntry]:
    return {e.name.removeprefix(f"{tag}/"): e for e in entries if e.name.startswith(f"{tag}/")}


@pytest_comfy
async def test_server_info_routes(comfy_server, model_files) -> None:
    tag, files = model_files
    async with ComfyClient(ServerSettings(url=comfy_server.url)) as info:
        stats = await info.system_stats()
        assert stats.comfyui_version == "0.3.75" and stats.devices[0].type == "cpu"
        assert stats.ram_total and stats.devices[0].vram_used is not None
        folders = await info.list_model_folders()
        assert {"checkpoints", "loras", "vae", "text_encoders"} <= set(folders)
        listed = {f.name: f for f in await info.list_models("checkpoints")}
        good = listed[f"{tag}/good.safetensors"]
        assert good.size == files["good"].stat().st_size and good.modified and good.path_index == 0
        assert f"{tag}/notes.txt" not in listed
        paths = await info.folder_paths()
        assert str(Path(comfy_server.base) / "models" / "checkpoints") in paths["checkpoints"]
        assert await info.view_metadata("loras", f"{tag}/style.safetensors") == {"ss_network_dim": "4"}
        assert await info.view_metadata("checkpoints", f"{tag}/sdxl_vae.safetensors") is None  # no metadata: 404
        with pytest.raises(ServerError) as err:  # neither /experiment/models nor /models knows it
            await info.list_models("no_such_folder")
        assert err.value.status == 404
    async with ModelCatalog(_config(comfy_server.url)) as catalog:
        listing = await catalog.list(["no_such_folder"])
        assert (listing.entries, listing.server_error) == ([], None)


@pytest_comfy
async def test_catalog_merges_server_and_loopback_local_files(comfy_server, model_files, tmp_path) -> None:
    tag, files = model_files
    config = _config(comfy_server.url, max_checkpoint_bytes=3000)
    async with ModelCatalog(config, hash_cache=HashCache(tmp_path / "h.json")) as catalog:
        assert catalog.use_server_paths  # a loopback server: its folder paths are local roots
        folders = await catalog.folders()
        assert folders[: len(KNOWN_FOLDERS)] == list(KNOWN_FOLDERS)
        assert "clip_vision" in folders and "configs" not in folders and "custom_nodes" not in folders
        listing = await catalog.list(["checkpoints", "clip"])
        assert listing.folders == ["checkpoints", "text_encoders"] and listing.server_error is None
        assert str(Path(comfy_server.base) / "models" / "checkpoints") in listing.roots["checkpoints"]
        mine = _mine(listing.entries, tag)
        assert set(mine) == {"good.safetensors", "sdxl_vae.safetensors", "mystery.safetensors", "corrupt.safetensors",
                             "empty.safetensors", "huge.safetensors", "legacy.ckpt"}
        for key, entry in mine.items():
            path = files[{"good.safetensors": "good", "sdxl_vae.safetensors": "vae", "mystery.safetensors": "unnamed_vae",
                          "corrupt.safetensors": "corrupt", "empty.safetensors": "empty",
                          "huge.safetensors": "huge", "legacy.ckpt": "ckpt"}[key]]
            assert entry.local_path == str(path) and entry.on_server
            assert entry.size == path.stat().st_size
            assert entry.modified == pytest.approx(path.stat().st_mtime, abs=1e-3)

        kinds = {k: [f.kind for f in e.flags] for k, e in mine.items()}
        assert kinds["good.safetensors"] == ["too_large"]  # 3000-byte limit; a real checkpoint otherwise
        assert mine["good.safetensors"].header.header.metadata == {"modelspec.title": "Good"}
        assert kinds["sdxl_vae.safetensors"] == ["name_not_checkpoint", "header_not_checkpoint"]
        assert kinds["mystery.safetensors"] == ["header_not_checkpoint"]  # the header tells, not the name
        assert "looks like a VAE" in mine["mystery.safetensors"].flags[0].message
        assert "belongs in vae/" in mine["mystery.safetensors"].flags[0].message
        assert kinds["corrupt.safetensors"] == ["bad_header"]
        assert "not valid JSON" in mine["corrupt.safetensors"].flags[0].message
        assert mine["empty.safetensors"].flags[0].message == "empty file (0 bytes), not a safetensors file"
        assert "exceeds the 100 MB limit" in mine["huge.safetensors"].flags[0].message
        assert kinds["legacy.ckpt"] == [] and mine["legacy.ckpt"].header is None
        assert mine["legacy.ckpt"].is_safetensors is False

        # the lora folder: no checkpoint flags, header read
        (lora,) = _mine(await catalog.list_folder("loras"), tag).values()
        assert lora.flags == () and lora.header.header.dtypes == {"F16": 2}

        # hashing through the catalog uses the cache the second time
        good = mine["good.safetensors"]
        first = await catalog.sha256(good)
        assert first.cached is False and (await catalog.sha256(good)).cached is True
        assert catalog.cached_sha256(good) == first.sha256


@pytest_comfy
async def test_catalog_without_local_roots_uses_view_metadata(comfy_server, model_files) -> None:
    tag, _files = model_files
    async with ModelCatalog(_config(comfy_server.url), use_server_paths=False) as catalog:
        mine = _mine((await catalog.list(["loras", "checkpoints"])).entries, tag)
        lora = mine["style.safetensors"]
        assert lora.local_path is None and lora.header is None and lora.size and lora.modified
        lora = await catalog.read_header(lora)
        assert (lora.header.source, lora.header.error, lora.header.metadata) == ("server", None, {"ss_network_dim": "4"})
        corrupt = await catalog.read_header(mine["corrupt.safetensors"])
        assert corrupt.header.source == "server" and "HTTP 500" in corrupt.header.error
        # name flags still apply without a header
        assert [f.kind for f in mine["sdxl_vae.safetensors"].flags] == ["name_not_checkpoint"]
        with pytest.raises(InputError, match="no local copy to hash"):
            await catalog.sha256(lora)


@pytest_comfy
async def test_extra_roots_and_configured_dirs(comfy_server, model_files, tmp_path) -> None:
    tag, _files = model_files
    volume = tmp_path / "volume"  # shaped like a mounted ComfyUI dir: models/ inside
    write(volume / "models" / "clip" / "clip_l.safetensors", safetensors_bytes({"text_model.x": ("F16", [2])}))
    configured = tmp_path / "configured"  # a models dir itself
    write(configured / "unet" / "flux.safetensors", safetensors_bytes({"double_blocks.0.x": ("F16", [2])}))
    config = _config(comfy_server.url, dirs=[str(configured)])
    async with ModelCatalog(config, extra_roots=[volume], use_server_paths=False) as catalog:
        listing = await catalog.list(["text_encoders", "diffusion_models"])
        by_name = {e.name: e for e in listing.entries}
        clip = by_name["clip_l.safetensors"]
        assert clip.folder == "text_encoders" and clip.on_server is False
        assert clip.local_path == str(volume / "models" / "clip" / "clip_l.safetensors")
        assert by_name["flux.safetensors"].folder == "diffusion_models"
        assert by_name["flux.safetensors"].header.header.tensor_count == 1


async def test_unreachable_server_lists_local_files_only(tmp_path) -> None:
    write(tmp_path / "models" / "checkpoints" / "x.safetensors", safetensors_bytes(CHECKPOINT))
    config = _config("http://127.0.0.1:9", dirs=[str(tmp_path)])
    async with ModelCatalog(config) as catalog:
        listing = await catalog.list(["checkpoints"])
        assert listing.server_error and "cannot reach ComfyUI" in listing.server_error
        assert [e.name for e in listing.entries] == ["x.safetensors"]
    async with ModelCatalog(dataclasses.replace(config, models=ModelSettings())) as catalog:
        with pytest.raises(ServerUnreachable):
            await catalog.list_folder("checkpoints")


class _AsContainer(httpx.AsyncBaseTransport):
    """The real server, answering ``/internal/folder_paths`` as the same ComfyUI in a container
    would: its base folder is ``/root/ComfyUI``; ``extra`` adds folders to the reply."""

    def __init__(self, base: Path, extra: dict[str, list[str]]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.base, self.extra = str(base), extra

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path != "/internal/folder_paths":
            return response
        data = json.loads(await response.aread())
        rewritten = {}
        for key, value in data.items():
            dirs = value[0] if value and isinstance(value[0], list) else value
            rewritten[key] = [d.replace(self.base, COMFY_ROOT, 1) for d in dirs] + self.extra.get(key, [])
        return httpx.Response(200, json=rewritten)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest_comfy
async def test_container_folder_paths_are_read_from_the_host_storage_folders(comfy_server, tmp_path) -> None:
    storage = tmp_path / "storage"
    mapped = write(storage / "storage-models" / "models" / "checkpoints" / "mapped.safetensors",
                   safetensors_bytes(CHECKPOINT))
    # A folder that exists on this machine at the very path the container names: it is the
    # container's, not this one, so it must not be listed as local.
    decoy = write(tmp_path / "decoy" / "loras" / "decoy.safetensors", safetensors_bytes(LORA))
    config = dataclasses.replace(_config(comfy_server.url), backend="container",
                                 container=ContainerSettings(storage=str(storage)))
    path_map = server_path_map(config)
    assert map_container_path(f"{COMFY_ROOT}/models/checkpoints", path_map) == str(mapped.parent)
    assert server_path_map(_config(comfy_server.url)) is None, "no container: server paths are host paths"

    transport = _AsContainer(Path(comfy_server.base), {"loras": [str(decoy.parent)]})
    async with ComfyClient(config.server, transport=transport) as info:
        async with ModelCatalog(config, info=info, path_map=path_map) as catalog:
            listing = await catalog.list(["checkpoints", "loras"])
    assert listing.roots["checkpoints"][0] == str(mapped.parent)
    local = {e.local_path for e in listing.entries if e.local_path}
    assert str(mapped) in local and str(decoy) not in local
    assert not any(p.startswith(str(comfy_server.base)) for p in local), "the server's own folders are not mapped"
    (note,) = listing.notes
    assert "not mounted from this machine" in note and str(decoy.parent) in note
