"""Users' own networks and code on the command line: timm: and torchvision: names, FILE.py:FUNCTION,
--plugin (files, modules, HARNESS_PLUGINS, entry points), --init and --pretrained; every mistake
one line, exit code 2, nothing written. No Ray: each mistake is refused before it starts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from realfiles import PLUGIN, write_image_folder, write_plugin

from harness import plugins
from harness.architectures import create_model, get_arch, list_source, load_user_code
from harness.cli.main import main
from harness.engine.weights import adaptation_notes, load_init, read_state
from harness.errors import HarnessError


@pytest.fixture(autouse=True)
def _restored(registries_restored):
    """Each test's plugins are gone after it (conftest's `registries_restored`)."""


@pytest.fixture
def image_folder(tmp_path) -> Path:
    return write_image_folder(tmp_path / "my images", per_class=10)


def _refused(capsys, tmp_path: Path, *argv: str) -> str:
    results = tmp_path / "results"
    capsys.readouterr()
    assert main([*argv, "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert not (results / "harness.db").exists()  # nothing written
    return err


BAD_PLUGIN = "raise RuntimeError('the plugin is broken')\n"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--task", "{images}", "--arch", "cnn_small"], ["unknown task", "folder:PATH"]),
        (["--task", "mine", "--data-dir", "{images}"], ["unknown task 'mine'"]),
        (["--data-dir", "{images}"], ["'digits' does not read --data-dir", "folder:PATH"]),
        (["--task", "folder:{images}", "--data-dir", "{images}", "--arch", "cnn_small"], ["does not read --data-dir"]),
        (["--task", "folder:{tmp}/missing"], ["no image folder at"]),
        (["--task", "folder:{images}", "--arch", "cnn_small", "--split", "0.5,0.5"], ["not three fractions"]),
        (["--task", "hf:{tmp}/nothing-saved"], ["no dataset saved with save_to_disk"]),
        (["--task", "hf:someone/some-set"], ["offline", "hf:PATH"]),
        (["--arch", "mobilenet_v3_small"], ["unknown architecture", "timm:NAME"]),
        (["--arch", "torchvision.models.mobilenet_v3_small"], ["name it torchvision:mobilenet_v3_small"]),
        (["--arch", "timm:no_such_net"], ["timm has no network 'no_such_net'", "harness archs --source timm"]),
        (["--arch", "torchvision:mobilenet_v3_smal"], ["did you mean torchvision:mobilenet_v3_small"]),
        (["--arch", "{tmp}/nets.py:build"], ["plugin file", "does not exist"]),
        (["--arch", "{plugin}:missing"], ["has no function 'missing'"]),
        (["--plugin", "{tmp}/broken.py"], ["failed to import: RuntimeError: the plugin is broken"]),
        (["--plugin", "no_such_module_here"], ["failed to import: ModuleNotFoundError"]),
        (["--arch", "cnn_small", "--pretrained"], ["'cnn_small' has no published weights"]),
        (["--task", "folder:{images}", "--arch", "timm:test_resnet", "--pretrained"], ["published weights"]),
        (["--task", "folder:{images}", "--arch", "cnn_small", "--init", "{tmp}/missing.pt"], ["does not exist"]),
        (["--task", "folder:{images}", "--arch", "cnn_small", "--init", "{plugin}"], ["not .pt, .pth or .safetensors"]),
        (["--task", "folder:{images}", "--arch", "timm:test_vit", "--image-size", "24"], ["does not take a 3x24x24"]),
    ],
)
def test_mistakes_with_own_data_and_code_are_one_line(argv, expected, image_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no test downloads anything
    plugin = write_plugin(tmp_path / "code")
    write_plugin(tmp_path, "broken.py", BAD_PLUGIN)
    values = {"images": str(image_folder), "tmp": str(tmp_path), "plugin": str(plugin)}
    err = _refused(capsys, tmp_path, "sweep", *(a.format(**values) for a in argv))
    for text in expected:
        assert text in err


def test_data_prepare_of_a_bare_path_is_one_line(image_folder, capsys):
    assert main(["data", "prepare", str(image_folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown task" in err and "folder:PATH" in err


def test_the_libraries_networks_are_listed_not_built(capsys):
    assert main(["archs", "--source", "timm", "--filter", "test_res*", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == ["timm:test_resnet"]
    assert "torchvision:resnet18" in list_source("torchvision")
    assert len(list_source("timm")) > 1000
    assert main(["archs", "--filter", "x"]) == 2 and "--filter needs --source" in capsys.readouterr().err


def test_library_networks_are_built_for_the_task():
    timm_net = create_model("timm:test_resnet", in_shape=(1, 20, 20), num_outputs=3)
    assert timm_net(torch.zeros(2, 1, 20, 20)).shape == (2, 3)
    grey = create_model("torchvision:resnet18", in_shape=(1, 32, 32), num_outputs=4)
    assert grey.conv1.in_channels == 1 and grey(torch.zeros(2, 1, 32, 32)).shape == (2, 4)
    assert adaptation_notes("torchvision:resnet18", channels=1, pretrained=False) == [
        "torchvision:resnet18: first convolution rebuilt for 1 channel(s)"
    ]
    assert get_arch("timm:test_resnet").pretrainable and not get_arch("cnn_small").pretrainable


def test_a_plugin_imports_once_from_any_of_its_sources(tmp_path, monkeypatch, capsys):
    plugin = write_plugin(tmp_path / "code", "twice.py", PLUGIN.replace("plugin_", "twice_"))
    monkeypatch.setenv("HARNESS_PLUGINS", str(plugin))
    first = load_user_code((), (str(plugin),))
    again = load_user_code((), (str(plugin),))  # the same file twice: harmless
    assert [p.ref for p in first] == [p.ref for p in again] == [str(plugin)]
    assert get_arch("twice_mlp").description == "A two-layer perceptron from a plugin file."
    assert first[0].sha256 and len(first[0].sha256) == 64
    # the networks it registers are listed, and a task it registers is shown by `harness data`
    assert main(["archs", "--plugin", str(plugin), "--format", "json"]) == 0
    assert "twice_mlp" in {row["name"] for row in json.loads(capsys.readouterr().out)}
    assert main(["data", "twice_digits", "--plugin", str(plugin), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["task"] == "twice_digits"


def test_an_installed_entry_point_is_a_plugin(tmp_path, monkeypatch):
    site = tmp_path / "site"
    write_plugin(site, "entry_plugin.py", PLUGIN.replace("plugin_", "entry_"))
    info = site / "entry_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: entry-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[harness.plugins]\nentry = entry_plugin\n")
    monkeypatch.syspath_prepend(str(site))
    loaded = load_user_code((), ())
    assert any(p.ref == "entry_plugin" and p.origin == "entry point" for p in loaded)
    assert get_arch("entry_mlp").name == "entry_mlp"


def test_a_file_network_is_registered_from_its_function(tmp_path):
    plugin = write_plugin(tmp_path / "code", "filenet.py", PLUGIN.replace("plugin_", "filenet_"))
    name = f"{plugin}:tiny"
    with pytest.raises(HarnessError, match="comes from a file not loaded"):
        get_arch(name)
    loaded = load_user_code((name,), ())
    assert [p.ref for p in loaded] == [str(plugin)] and get_arch(name).external
    model = create_model(name, in_shape=(3, 8, 8), num_outputs=2)
    assert model(torch.zeros(1, 3, 8, 8)).shape == (1, 2)


def test_a_changed_or_missing_plugin_is_refused_where_the_store_recorded_it(tmp_path):
    plugin = write_plugin(tmp_path / "code", "recorded.py", PLUGIN.replace("plugin_", "recorded_"))
    record = [plugins.identify(str(plugin)).record()]
    with pytest.raises(HarnessError, match="pass --plugin .*recorded.py again"):
        plugins.check_same(record, [], what="sweep X")
    plugin.write_text(PLUGIN.replace("plugin_", "recorded_") + "\n# edited\n")
    with pytest.raises(HarnessError, match="changed since sweep X used it"):
        plugins.check_same(record, [plugins.identify(str(plugin))], what="sweep X")


def test_init_copies_what_fits_and_names_the_head_it_reinitialised(tmp_path):
    from safetensors.torch import save_file

    source = create_model("cnn_small", in_shape=(3, 32, 32), num_outputs=10)
    torch.save({"model_state": source.state_dict(), "epoch": 1}, tmp_path / "model.pt")  # a harness checkpoint
    save_file(source.state_dict(), str(tmp_path / "weights.safetensors"))
    for path in (tmp_path / "model.pt", tmp_path / "weights.safetensors"):
        target = create_model("cnn_small", in_shape=(3, 32, 32), num_outputs=3)
        note = load_init(target, path)
        assert note.endswith("re-initialised 12 (Linear): another shape or absent there"), note
        kept = [k for k, v in source.state_dict().items() if target.state_dict()[k].shape == v.shape]
        assert all(torch.equal(target.state_dict()[k], source.state_dict()[k]) for k in kept)
    # a pickle that is no state_dict runs nothing and is one line
    torch.save({"x": [1, 2]}, tmp_path / "odd.pt")
    with pytest.raises(HarnessError, match="no state_dict of tensors"):
        read_state(tmp_path / "odd.pt")


def test_a_sweep_file_declares_the_task(tmp_path, image_folder):
    from harness.config.spec import SweepSpec

    config = tmp_path / "team.toml"
    config.write_text(
        f'archs = ["cnn_small"]\n\n[task]\npath = "{image_folder.name}"\nimage_size = 32\nsplit = "0.6,0.2,0.2"\n'
    )
    spec = SweepSpec.from_toml(str(config), {}).validate()
    assert spec.task == f"folder:{image_folder}" and spec.image_size == 32 and spec.variant == "0.6,0.2,0.2"
    config.write_text('[task]\npath = "x"\ncolour = "red"\n')
    with pytest.raises(HarnessError, match="unknown key of \\[task\\]"):
        SweepSpec.from_toml(str(config), {})


def test_help_says_how(capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for text in ("folder:PATH", "hf:PATH|NAME", "timm:NAME", "FILE.py:FUNCTION", "--plugin", "--init", "--split"):
        assert text in out
    assert "folder: and hf: 64" in out and "--pretrained" in out


def test_a_network_that_cannot_export_names_the_operation(tmp_path):
    from harness.export.onnx import export_onnx

    class Singular(torch.nn.Module):  # an operation ONNX has no translation for
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.linalg.svdvals(x.flatten(1)[:, :4].reshape(-1, 2, 2)).reshape(x.shape[0], -1)

    with pytest.raises(HarnessError) as info:
        export_onnx(model=Singular(), example=torch.zeros(2, 3, 8, 8), out_path=tmp_path / "x.onnx", metadata={})
    assert "no translation of aten._linalg_svd" in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "x.onnx").exists()


def test_a_resume_asks_for_the_plugin_again(tmp_path, capsys):
    """The store names the plugin file a sweep used; a resume never imports it from there."""
    from harness.config.spec import SweepSpec
    from harness.kinds import SweepStatus
    from harness.store.db import Store

    plugin = write_plugin(tmp_path / "code", "resumed.py", PLUGIN.replace("plugin_", "resumed_"))
    spec = SweepSpec(task="resumed_digits", archs=("resumed_mlp",), plugins=(str(plugin),))
    with Store.create(tmp_path) as store:
        store.create_sweep(
            sweep_id="s1",
            task=spec.task,
            seed=0,
            command="harness sweep",
            spec_json=spec.to_json(),
            environment={"plugins": [plugins.identify(str(plugin)).record()]},
        )
        store.finish_sweep("s1", SweepStatus.INTERRUPTED)
    assert main(["sweep", "--resume", "s1", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"sweep s1 used plugin '{plugin}'" in err and "--plugin" in err
    assert "harness_plugin_resumed" not in " ".join(sys.modules)  # never imported from the store
    plugin.write_text(PLUGIN.replace("plugin_", "resumed_") + "# edited\n")
    assert main(["sweep", "--resume", "s1", "--plugin", str(plugin), "--results", str(tmp_path)]) == 2
    assert "changed since sweep s1 used it" in capsys.readouterr().err
