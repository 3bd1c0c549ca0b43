"""The ``nmfaudio`` command line: every command on fixture and real audio, and every
user mistake (one line on stderr, non-zero exit, no traceback, no partial file).

Most tests go through click's CliRunner (in-process, fast); ``test_console_script_*``
runs the installed ``nmfaudio`` script and ``python -m nmfaudio`` in real subprocesses.
Iteration counts are small: these tests check plumbing, files and exit codes; the
quality of the separations is tested in test_separate.py / test_quality.py.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from nmfaudio import chunked
from nmfaudio import audio as audio_io
from nmfaudio import cli as cli_module
from nmfaudio.cli import Progress, cli

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "audio_fixtures"
EXAMPLE = FIXTURES / "example"
EXAMPLE_MIX = EXAMPLE / "mixture.wav"
STEREO_MIX = FIXTURES / "stereo" / "mixture.wav"
FAST = ["-n", "20"]  # iterations: plumbing, not quality
PCM_STEP = 1.0 / 32768


# --------------------------------------------------------------------------- helpers


def runner() -> CliRunner:
    # click < 8.2 mixes stderr into stdout unless told not to; 8.2 dropped the option
    if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters:
        return CliRunner(mix_stderr=False)
    return CliRunner()


def run(*args, **kwargs):
    """Invoke the CLI in-process; fail loudly if click itself caught an exception."""
    result = runner().invoke(cli, [str(a) for a in args], **kwargs)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"unexpected exception {result.exception!r}\n{result.stderr}")
    return result


def ok(*args, **kwargs):
    result = run(*args, **kwargs)
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result


def ok_json(*args) -> dict:
    result = ok(*args, "--json")
    return json.loads(result.stdout)  # stdout is the JSON and nothing else


def assert_one_line_error(result, *needles, exit_code=None, blank_ok=False) -> str:
    """Non-zero exit, exactly one line on stderr, no traceback anywhere.

    ``blank_ok``: after Ctrl-C click prints an empty line (ending the terminal's ``^C``).
    """
    assert result.exit_code != 0
    if exit_code is not None:
        assert result.exit_code == exit_code, result.stderr
    lines = [line for line in result.stderr.splitlines() if line or not blank_ok]
    assert len(lines) == 1, f"stderr should be one line:\n{result.stderr}"
    line = lines[0]
    assert line.startswith("nmfaudio: error: ")
    for needle in needles:
        assert str(needle) in line, f"{needle!r} not in {line!r}"
    assert "Traceback" not in result.stderr + result.stdout
    return line


#: The hidden list of the outputs a run wrote in OUTDIR/<stem>/ (see nmfaudio.cli.outputs).
MANIFEST = ".nmfaudio-outputs.json"


def assert_no_leftovers(folder: Path) -> None:
    """No hidden staging/temporary files anywhere under ``folder`` (the manifest aside)."""
    if not folder.exists():
        return
    leftovers = [p for p in folder.rglob("*") if (p.name.startswith(".") and p.name != MANIFEST)
                 or ".partial" in p.name or ".tmp" in p.name]
    assert leftovers == [], leftovers


def read(path) -> tuple:
    data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    return data.T, rate


def check_sources(result_file: dict, mixture: Path, names, *, tolerance: float) -> np.ndarray:
    """Every source has the mixture's rate, channels and length; they add up to it."""
    mix, rate = read(mixture)
    assert [s["name"] for s in result_file["sources"]] == list(names)
    assert result_file["sample_rate"] == rate
    assert result_file["channels"] == mix.shape[0]
    assert result_file["n_samples"] == mix.shape[1]
    total = np.zeros_like(mix)
    for source in result_file["sources"]:
        samples, source_rate = read(source["path"])
        assert source_rate == rate
        assert samples.shape == mix.shape
        total += samples
    assert np.max(np.abs(total - mix)) <= tolerance
    return total


def copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


def tree(folder: Path) -> dict:
    """``{relative path: bytes}`` of every file under ``folder``."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def example_dicts(tmp_path_factory) -> dict:
    """Dictionaries of the example's keys and drums, learned through the CLI."""
    folder = tmp_path_factory.mktemp("dicts")
    paths = {}
    for name in ("keys", "drums"):
        out = folder / f"{name}.npz"
        summary = ok_json("learn", name, EXAMPLE / "train" / f"{name}.wav", "-o", out,
                          "-k", 12, "-n", 30)
        assert summary["name"] == name and summary["n_components"] == 12
        # the default STFT of a dictionary: about 200 ms at the clip's 22.05 kHz
        assert summary["sample_rate"] == 22050 and summary["n_fft"] == 4096
        assert summary["hop"] == 1024 and summary["path"] == str(out)
        paths[name] = out
    return paths


# --------------------------------------------------------------------------- basics


def test_version_and_help():
    assert ok("--version").stdout.strip() == f"nmfaudio {cli_module.__version__}"
    for command in ("separate", "learn", "evaluate", "plot", "demo"):
        assert "Usage: nmfaudio " + command in ok(command, "--help").stdout


def test_progress_bar_draws_only_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    with Progress(100, "mix.wav", stream=stream) as bar:
        bar.callback(50, 12.5)
        bar.update(100)
    text = stream.getvalue()
    assert "mix.wav [" in text and "100/100 it" in text and "loss 12.5" in text
    assert text.endswith("\r")  # the line is wiped when done
    assert "fit 2" not in text

    second = Terminal()  # a second fit (a drum kit's NMFD) starts its iterations again
    with Progress(100, "mix.wav", stream=second) as bar:
        bar.callback(100, 3.0)
        bar._last = 0.0  # redraw at once, not after the 0.1 s throttle
        bar.callback(1, 9.0)
    assert "1/100 it  fit 2  loss 9" in second.getvalue()

    plain = io.StringIO()  # not a terminal: nothing at all
    with Progress(100, "mix.wav", stream=plain) as bar:
        bar.update(50)
    assert plain.getvalue() == ""
    disabled = Terminal()
    with Progress(100, "mix.wav", stream=disabled, enabled=False) as bar:
        bar.update(50)
    assert disabled.getvalue() == ""


# --------------------------------------------------------------------------- separate


def test_separate_fixture_float32_json(tmp_path):
    out = tmp_path / "out"
    summary = ok_json("separate", EXAMPLE_MIX, "-o", out, "--float32", *FAST)
    assert summary["ok"] is True and summary["n_inputs"] == 1 and summary["n_failed"] == 0
    assert summary["settings"]["mode"] == "unsupervised"
    assert summary["subtype"] == "FLOAT" and summary["seconds"] > 0
    (item,) = summary["files"]
    assert item["output_dir"] == str(out / "mixture")
    assert item["written"] == [str(out / "mixture" / f"source{i}.wav") for i in (1, 2)]
    assert item["iterations"] <= 20 and np.isfinite(item["final_loss"])
    assert item["clipped_samples"] == 0 and item["seconds"] > 0
    assert sf.info(item["written"][0]).subtype == "FLOAT"
    check_sources(item, EXAMPLE_MIX, ["source1", "source2"], tolerance=1e-4)
    assert sorted(os.listdir(out / "mixture")) == [MANIFEST, "source1.wav", "source2.wav"]


def test_separate_pcm16_quiet_and_human_output(tmp_path):
    result = ok("separate", EXAMPLE_MIX, "-o", tmp_path, "-q", "--sources", 3, "-k", 9, *FAST)
    assert result.stdout == "" and result.stderr == ""
    folder = tmp_path / "mixture"
    assert sf.info(str(folder / "source1.wav")).subtype == "PCM_16"
    item = {"sample_rate": 22050, "channels": 1, "n_samples": 132300,
            "sources": [{"name": f"source{i}", "path": folder / f"source{i}.wav"}
                        for i in (1, 2, 3)]}
    # rounded together (nmfaudio.audio.round_together): the 16-bit files add up to the
    # 16-bit mixture exactly, where each rounded alone was off by up to 3 steps
    check_sources(item, EXAMPLE_MIX, ["source1", "source2", "source3"], tolerance=0.0)

    again = ok("separate", EXAMPLE_MIX, "-o", tmp_path, "--overwrite", *FAST)
    assert again.stdout.startswith(f"{EXAMPLE_MIX} -> {folder}{os.sep}: source1.wav, source2.wav")
    assert "20 iterations" in again.stdout


def test_stereo_stays_stereo(tmp_path):
    summary = ok_json("separate", STEREO_MIX, "-o", tmp_path, "--float32", *FAST)
    (item,) = summary["files"]
    assert item["channels"] == 2
    total = check_sources(item, STEREO_MIX, ["source1", "source2"], tolerance=1e-4)
    assert total.shape == (2, 88200)
    left, _ = read(item["sources"][0]["path"])
    assert not np.allclose(left[0], left[1])  # two real channels, not a copy of one


def test_demo_and_separate_without_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = ok("separate", *FAST)
    folder = tmp_path / "separated" / "example"
    # the demo learns a dictionary per instrument from the packaged training clips
    assert sorted(os.listdir(folder)) == [MANIFEST, "drums.wav", "keys.wav"]
    assert "example" in result.stdout and "nmfaudio separate YOUR.wav" in result.stdout
    data, rate = read(folder / "keys.wav")
    assert rate == 22050 and data.shape == (1, 132300)

    summary = ok_json("demo", "-o", "elsewhere", "--float32", *FAST)
    assert summary["command"] == "demo" and summary["ok"]
    assert summary["settings"]["mode"] == "supervised"
    (item,) = summary["files"]
    assert item["input"].endswith("example.wav")
    check_sources(item, EXAMPLE_MIX, ["keys", "drums"], tolerance=1e-4)  # same audio

    # asking for a number of sources gives the unsupervised demo
    summary = ok_json("demo", "-o", "blind", "--float32", "--sources", 2, *FAST)
    check_sources(summary["files"][0], EXAMPLE_MIX, ["source1", "source2"], tolerance=1e-4)


def test_demo_separates_well(tmp_path):
    """What a new user hears first: with the default settings, both instruments clearly."""
    ok("demo", "-o", tmp_path, "-q")
    scores = ok_json("evaluate", tmp_path / "example", EXAMPLE / "sources", "--mixture", EXAMPLE_MIX)
    assert sorted(scores["sources"]) == ["drums", "keys"]
    assert min(s["sdr"] for s in scores["sources"].values()) > 10.0, json.dumps(scores["sources"])


def test_many_16_bit_files_add_up_exactly(tmp_path):
    """12 sources and 12 components, streamed and in memory: each file rounded alone left
    the sum of 12 sources of a drum loop 11 steps (3.4e-4) off the mixture."""
    streamed = ok_json("separate", EXAMPLE_MIX, "-o", tmp_path / "a", "--sources", 12, *FAST)
    names = [f"source{i}" for i in range(1, 13)]
    check_sources(streamed["files"][0], EXAMPLE_MIX, names, tolerance=0.0)
    whole = ok_json("separate", STEREO_MIX, "-o", tmp_path / "b", "--sources", 12, "-k", 12,
                    "--components-out", *FAST)
    (item,) = whole["files"]
    check_sources(item, STEREO_MIX, names, tolerance=0.0)
    mix, _ = read(STEREO_MIX)
    assert np.array_equal(sum(read(c["path"])[0] for c in item["components"]), mix)


def test_components_out_and_plot(tmp_path):
    summary = ok_json("separate", EXAMPLE_MIX, "-o", tmp_path, "--float32", "-k", 6,
                      "--components-out", "--plot", *FAST)
    (item,) = summary["files"]
    folder = tmp_path / "mixture"
    components = item["components"]
    assert [c["path"] for c in components] == [
        str(folder / "components" / f"component_{k:02d}.wav") for k in range(6)]
    assert {c["source"] for c in components} == {"source1", "source2"}
    mix, _ = read(EXAMPLE_MIX)
    total = sum(read(c["path"])[0] for c in components)
    assert np.max(np.abs(total - mix)) < 1e-4  # components add up to the mixture too
    assert item["plot"] == str(folder / "separation.png")
    assert (folder / "separation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(item["written"]) == 2 + 6 + 1
    assert_no_leftovers(tmp_path)


def test_learn_supervised_evaluate_fixture(tmp_path, example_dicts):
    summary = ok_json("separate", EXAMPLE_MIX, "-o", tmp_path, "--dict", example_dicts["keys"],
                      "--dict", example_dicts["drums"], "--free", 2, "--float32", "-n", 30)
    (item,) = summary["files"]
    assert summary["settings"]["mode"] == "supervised"
    check_sources(item, EXAMPLE_MIX, ["keys", "drums", "other"], tolerance=1e-4)

    scores = ok_json("evaluate", tmp_path / "mixture", EXAMPLE / "sources",
                     "--mixture", EXAMPLE_MIX)
    assert scores["names"] == ["drums", "keys"]
    assert scores["unscored"] == [str(tmp_path / "mixture" / "other.wav")]
    assert scores["files"]["keys"]["estimate"] == str(tmp_path / "mixture" / "keys.wav")
    for name in ("drums", "keys"):
        values = scores["sources"][name]
        assert set(values) == {"sdr", "sir", "sar", "si_sdr"}
        assert values["sdr"] > 5  # learned templates of the same instruments do separate
    assert scores["improvement"]["median"]["sdr"] > 5

    table = ok("evaluate", tmp_path / "mixture", EXAMPLE / "sources")
    assert "SDR" in table.stdout and "SI-SDR" in table.stdout and "keys" in table.stdout
    assert "other.wav" in table.stderr and "not scored" in table.stderr


def test_evaluate_match_best_for_unsupervised_names(tmp_path):
    ok("separate", EXAMPLE_MIX, "-o", tmp_path, "-q", *FAST)
    scores = ok_json("evaluate", tmp_path / "mixture", EXAMPLE / "sources", "--match", "best")
    estimates = {scores["files"][n]["estimate"] for n in ("drums", "keys")}
    assert estimates == {str(tmp_path / "mixture" / f"source{i}.wav") for i in (1, 2)}


def test_plot_command_writes_only_the_figure(tmp_path, example_dicts):
    out = tmp_path / "figs" / "fig.png"
    summary = ok_json("plot", EXAMPLE_MIX, "-o", out, "--dict", example_dicts["keys"],
                      "--dict", example_dicts["drums"], *FAST)
    assert summary["plot"] == str(out) and summary["sources"] == ["keys", "drums"]
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert sorted(os.listdir(out.parent)) == ["fig.png"]  # no audio written

    again = run("plot", EXAMPLE_MIX, "-o", out, *FAST)
    assert_one_line_error(again, str(out), "--overwrite", exit_code=1)


def test_plot_of_the_example_follows_demo_in_what_is_blind(tmp_path):
    """Without a mixture, plot separates the example as demo does: --grouping (like
    --sources) asks for a blind separation, not the example's dictionaries."""
    for command, target in (("plot", tmp_path / "fig.png"), ("demo", tmp_path / "demo")):
        summary = ok_json(command, "--grouping", "register", "-o", target, *FAST)
        if command == "plot":
            assert summary["sources"] == ["source1", "source2"], summary
        else:
            (item,) = summary["files"]
            assert item["grouping"] == "register"
            check_sources(item, EXAMPLE_MIX, ["source1", "source2"], tolerance=0.0)


def test_batch_one_bad_file_the_rest_still_written(tmp_path):
    inputs = tmp_path / "in"
    a = copy(EXAMPLE_MIX, inputs / "a.wav")
    bad = inputs / "bad.wav"
    bad.write_text("not audio")
    b = copy(STEREO_MIX, inputs / "b.wav")
    out = tmp_path / "out"
    result = run("separate", a, bad, b, "-o", out, "--json", *FAST)
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["ok"] is False and summary["n_failed"] == 1
    assert [f["ok"] for f in summary["files"]] == [True, False, True]
    assert "bad.wav" in summary["files"][1]["error"]
    errors = result.stderr.splitlines()
    assert errors[0].startswith("nmfaudio: error: ") and "bad.wav" in errors[0]
    assert "1 of 3 inputs failed" in errors[-1]
    assert "Traceback" not in result.stderr
    assert sorted(os.listdir(out)) == ["a", "b"]  # nothing for the bad one
    assert sorted(os.listdir(out / "b")) == [MANIFEST, "source1.wav", "source2.wav"]


def test_jobs_above_the_core_count_are_capped_with_a_note(tmp_path, monkeypatch):
    import nmfaudio.cli.commands as commands

    monkeypatch.setattr(commands, "usable_cores", lambda: 1)
    inputs = [copy(EXAMPLE_MIX, tmp_path / "in" / "a.wav"), copy(STEREO_MIX, tmp_path / "in" / "b.wav")]
    result = ok("separate", *inputs, "-o", tmp_path / "out", "--jobs", 3, *FAST)
    assert "--jobs 3 is more than the 1 cores" in result.stderr
    assert sorted(n for n in tree(tmp_path / "out") if n.endswith(".wav")) == [
        "a/source1.wav", "a/source2.wav", "b/source1.wav", "b/source2.wav"]


def test_jobs_2_gives_the_same_files_as_jobs_1(tmp_path):
    inputs = [copy(EXAMPLE_MIX, tmp_path / "in" / "a.wav"), tmp_path / "in" / "bad.wav",
              copy(STEREO_MIX, tmp_path / "in" / "b.wav")]
    inputs[1].write_text("not audio")
    one = run("separate", *inputs, "-o", tmp_path / "j1", "--json", *FAST)
    two = run("separate", *inputs, "-o", tmp_path / "j2", "--jobs", 2, "--json", *FAST)
    assert one.exit_code == two.exit_code == 1
    summary = json.loads(two.stdout)
    assert [f["input"] for f in summary["files"]] == [str(p) for p in inputs]  # input order
    assert [f["ok"] for f in summary["files"]] == [True, False, True]
    assert "bad.wav" in two.stderr.splitlines()[0]
    files1, files2 = tree(tmp_path / "j1"), tree(tmp_path / "j2")
    assert sorted(files1) == sorted(files2) == [
        f"a/{MANIFEST}", "a/source1.wav", "a/source2.wav",
        f"b/{MANIFEST}", "b/source1.wav", "b/source2.wav"]
    for name in (name for name in files1 if name.endswith(".wav")):
        x, _ = read(tmp_path / "j1" / name)
        y, _ = read(tmp_path / "j2" / name)
        assert np.allclose(x, y, atol=2 * PCM_STEP)


def test_clipping_in_16_bit_is_reported_and_float32_keeps_everything(tmp_path):
    mixture, _ = read(EXAMPLE_MIX)
    loud = tmp_path / "loud.wav"  # a float WAV may go beyond full scale
    # peak 3: where the two sources add up to 3, one of them is at least 1.5, so some
    # source clips in 16 bit whatever the grouping
    sf.write(str(loud), (3.0 / np.abs(mixture).max() * mixture).T.astype(np.float32), 22050,
             subtype="FLOAT")
    result = run("separate", loud, "-o", tmp_path / "pcm", "--json", *FAST)
    assert result.exit_code == 0
    (item,) = json.loads(result.stdout)["files"]
    assert item["clipped_samples"] > 0
    assert item["clipped_samples"] == sum(s["clipped_samples"] for s in item["sources"])
    warning = result.stderr.splitlines()[0]
    assert warning.startswith("nmfaudio: warning: ") and "--float32" in warning
    assert "loud" in warning
    summary = ok_json("separate", loud, "-o", tmp_path / "float", "--float32", *FAST)
    (item,) = summary["files"]
    assert item["clipped_samples"] == 0
    check_sources(item, loud, ["source1", "source2"], tolerance=1e-4)


def test_packaged_example_is_the_fixture():
    from importlib import resources

    data = resources.files("nmfaudio").joinpath("data")
    assert data.joinpath("example.wav").read_bytes() == EXAMPLE_MIX.read_bytes()
    for name in ("keys", "drums"):
        assert data.joinpath(f"train_{name}.wav").read_bytes() == (EXAMPLE / "train" / f"{name}.wav").read_bytes()


# --------------------------------------------------------------------------- real audio


def test_real_audio_learn_and_supervised(tmp_path, shared_audio):
    task = shared_audio / "C_speech_piano_supervised"
    dicts = []
    for name in ("speech", "piano"):
        out = tmp_path / f"{name}.npz"
        summary = ok_json("learn", name, task / "train" / f"{name}.wav", "-o", out,
                          "-k", 16, "-n", 30, "--n-fft", 512)
        assert summary["sample_rate"] == 8000 and summary["hop"] == 128
        dicts += ["--dict", out]
    summary = ok_json("separate", task / "mixture.wav", *dicts, "-o", tmp_path / "sep",
                      "--float32", "-n", 30)
    (item,) = summary["files"]
    assert item["sample_rate"] == 8000
    check_sources(item, task / "mixture.wav", ["speech", "piano"], tolerance=1e-3)
    scores = ok_json("evaluate", tmp_path / "sep" / "mixture", task / "sources")
    assert scores["median"]["sdr"] > 2  # README: 8.1 dB with 32 templates and 300 iterations


def test_real_audio_unsupervised_drums(tmp_path, shared_audio):
    task = shared_audio / "drums_808"
    summary = ok_json("separate", task / "mixture.wav", "--sources", 3, "-o", tmp_path,
                      "-n", 30)
    (item,) = summary["files"]
    assert item["sample_rate"] == 44100 and item["channels"] == 1
    check_sources(item, task / "mixture.wav", ["source1", "source2", "source3"], tolerance=0.0)


# --------------------------------------------------------------------------- console script


def test_console_script_subprocess(tmp_path):
    script = Path(sys.executable).parent / "nmfaudio"
    if not script.exists():
        pytest.skip(f"the nmfaudio console script is not installed next to {sys.executable} "
                    "(pip install -e .)")
    done = subprocess.run([str(script), "separate", str(EXAMPLE_MIX), "-o", str(tmp_path),
                           "--float32", "--json", *FAST],
                          check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # not a terminal: no progress bar
    (item,) = json.loads(done.stdout)["files"]
    check_sources(item, EXAMPLE_MIX, ["source1", "source2"], tolerance=1e-4)

    failed = subprocess.run([str(script), "separate", str(tmp_path / "nope.wav"), "-o",
                             str(tmp_path)], check=False, capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1
    assert failed.stderr.count("\n") == 1 and "nope.wav" in failed.stderr
    assert "Traceback" not in failed.stderr

    usage = subprocess.run([str(script), "separate", "--beta", "nope"], check=False, capture_output=True,
                           text=True, timeout=120)
    assert usage.returncode == 2 and usage.stderr.count("\n") == 1 and "--beta" in usage.stderr


def test_python_m_nmfaudio_version():
    done = subprocess.run([sys.executable, "-m", "nmfaudio", "--version"], check=False, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0
    assert done.stdout.strip() == f"nmfaudio {cli_module.__version__}"


# --------------------------------------------------------------------------- user mistakes


def test_error_missing_file(tmp_path):
    result = run("separate", tmp_path / "missing.wav", "-o", tmp_path / "out")
    assert_one_line_error(result, "missing.wav", exit_code=1)
    assert not (tmp_path / "out").exists()  # nothing created for nothing written


def test_error_text_file_named_wav(tmp_path):
    fake = tmp_path / "notes.wav"
    fake.write_text("this is not audio\n")
    result = run("separate", fake, "-o", tmp_path / "out")
    assert_one_line_error(result, "notes.wav", exit_code=1)
    assert not (tmp_path / "out").exists()


def test_error_unknown_option_values(tmp_path):
    result = run("separate", EXAMPLE_MIX, "--beta", "banana", "-o", tmp_path)
    assert_one_line_error(result, "--beta", "banana", "nmfaudio separate --help", exit_code=2)
    result = run("separate", EXAMPLE_MIX, "--on-rate-mismatch", "ignore", "-o", tmp_path)
    assert_one_line_error(result, "--on-rate-mismatch", exit_code=2)
    result = run("separate", EXAMPLE_MIX, "--no-such-option")
    assert_one_line_error(result, "--no-such-option", exit_code=2)
    result = run("separate", EXAMPLE_MIX, "--sources", 2, "--free", 3)
    assert_one_line_error(result, "--free", exit_code=2)
    assert os.listdir(tmp_path) == []


def test_beta_accepts_names_in_any_case_and_numbers(tmp_path):
    for beta in ("IS", "euclidean", "0.5"):
        ok("separate", EXAMPLE_MIX, "--beta", beta, "-o", tmp_path / beta, "-q", "-n", 10)


def test_error_dictionary_sample_rate_mismatch(tmp_path, example_dicts):
    mixture = audio_io.load(EXAMPLE_MIX)
    slower = tmp_path / "slow.wav"
    audio_io.save(slower, audio_io.resample(mixture, 11025).samples, 11025)
    out = tmp_path / "out"
    result = run("separate", slower, "--dict", example_dicts["keys"], "--dict",
                 example_dicts["drums"], "--on-rate-mismatch", "error", "-o", out)
    line = assert_one_line_error(result, "slow.wav", "11025", "22050", exit_code=1)
    assert "--on-rate-mismatch resample" in line  # CLI words, not the Python keyword
    assert not out.exists()


def test_error_dictionary_stft_mismatch(tmp_path, example_dicts):
    result = run("separate", EXAMPLE_MIX, "--dict", example_dicts["keys"], "--n-fft", 1024,
                 "-o", tmp_path)
    assert_one_line_error(result, str(example_dicts["keys"]), "--n-fft", exit_code=2)
    other = tmp_path / "drums1024.npz"
    ok("learn", "drums", EXAMPLE / "train" / "drums.wav", "-o", other, "--n-fft", 1024,
       "-k", 4, "-n", 5, "-q")
    result = run("separate", EXAMPLE_MIX, "--dict", example_dicts["keys"], "--dict", other,
                 "-o", tmp_path / "out")
    assert_one_line_error(result, "drums", "n_fft=1024", exit_code=1)
    assert not (tmp_path / "out").exists()


def test_error_missing_dictionary_file(tmp_path):
    result = run("separate", EXAMPLE_MIX, "--dict", tmp_path / "piano.npz", "-o", tmp_path)
    assert_one_line_error(result, "piano.npz", "nmfaudio learn", exit_code=1)


def test_error_output_folder_not_writable(tmp_path):
    blocker = tmp_path / "plain_file"
    blocker.write_text("I am a file")
    result = run("separate", EXAMPLE_MIX, "-o", blocker / "out", *FAST)
    assert_one_line_error(result, "plain_file", "-o", exit_code=1)
    assert blocker.read_text() == "I am a file"
    assert sorted(os.listdir(tmp_path)) == ["plain_file"]
    result = run("learn", "keys", EXAMPLE / "train" / "keys.wav", "-o",
                 blocker / "keys.npz", "-n", 5)
    assert_one_line_error(result, "plain_file", exit_code=1)


def test_error_existing_output_without_overwrite(tmp_path):
    ok("separate", EXAMPLE_MIX, "-o", tmp_path, "-q", *FAST)
    before = tree(tmp_path)
    result = run("separate", EXAMPLE_MIX, "-o", tmp_path, *FAST)
    assert_one_line_error(result, "source1.wav", "--overwrite", exit_code=1)
    assert tree(tmp_path) == before
    ok("separate", EXAMPLE_MIX, "-o", tmp_path, "-q", "--overwrite", *FAST)
    assert sorted(tree(tmp_path)) == sorted(before)

    npz = tmp_path / "keys.npz"
    ok("learn", "keys", EXAMPLE / "train" / "keys.wav", "-o", npz, "-k", 4, "-n", 5, "-q")
    result = run("learn", "keys", EXAMPLE / "train" / "keys.wav", "-o", npz, "-k", 4, "-n", 5)
    assert_one_line_error(result, "keys.npz", "--overwrite", exit_code=1)


def test_error_output_is_an_input(tmp_path):
    # OUTDIR/<stem>/<source>.wav: re-separating sep/source1/source1.wav into sep/
    source = copy(EXAMPLE_MIX, tmp_path / "sep" / "source1" / "source1.wav")
    original = source.read_bytes()
    result = run("separate", source, "-o", tmp_path / "sep", "--overwrite", *FAST)
    assert_one_line_error(result, "source1.wav", "input", exit_code=1)
    assert source.read_bytes() == original
    assert sorted(os.listdir(source.parent)) == ["source1.wav"]


def test_error_two_inputs_with_the_same_stem(tmp_path):
    result = run("separate", EXAMPLE_MIX, STEREO_MIX, "-o", tmp_path)
    assert_one_line_error(result, str(tmp_path / "mixture"), exit_code=2)


def test_failure_while_writing_leaves_no_partial_output(tmp_path, monkeypatch):
    ok("separate", EXAMPLE_MIX, "-o", tmp_path, "-q", *FAST)
    before = tree(tmp_path)
    real_close = audio_io.AudioWriter.close
    calls = []

    def failing_close(writer):  # the sources are written in blocks, then closed
        calls.append(writer.path)
        if len(calls) == 2:  # the second source
            raise audio_io.AudioFileError(f"cannot write {writer.path!r}: No space left on device")
        return real_close(writer)

    monkeypatch.setattr(audio_io.AudioWriter, "close", failing_close)
    result = run("separate", EXAMPLE_MIX, "-o", tmp_path, "--overwrite", *FAST)
    assert_one_line_error(result, "No space left", exit_code=1)
    assert tree(tmp_path) == before  # the earlier results are intact, nothing half-new
    assert_no_leftovers(tmp_path)

    calls.clear()
    fresh = tmp_path / "fresh"
    result = run("separate", EXAMPLE_MIX, "-o", fresh, *FAST)
    assert result.exit_code == 1
    assert not fresh.exists()  # neither files nor the folders made for them


def test_interrupt_while_writing_leaves_no_partial_output(tmp_path, monkeypatch):
    real_write = audio_io.AudioWriter.write
    calls = []

    def interrupted_write(writer, block):  # Ctrl-C half way through writing the sources
        calls.append(writer.path)
        if len(calls) == 3:  # the second chunk of the first source
            raise KeyboardInterrupt
        return real_write(writer, block)

    monkeypatch.setattr(audio_io.AudioWriter, "write", interrupted_write)
    result = run("separate", EXAMPLE_MIX, "-o", tmp_path / "out", *FAST)
    assert_one_line_error(result, "interrupted", exit_code=130, blank_ok=True)
    assert not (tmp_path / "out").exists()


def test_unexpected_exception_is_one_line_and_a_bug(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli_module.separation, "separate", broken)
    monkeypatch.setattr(chunked, "separate_to_files", broken)
    result = run("separate", EXAMPLE_MIX, "-o", tmp_path / "out")
    assert_one_line_error(result, "RuntimeError", "boom", "bug", exit_code=1)
    assert not (tmp_path / "out").exists()
    debug = run("--debug", "separate", EXAMPLE_MIX, "-o", tmp_path / "out")
    assert debug.exit_code == 1 and "Traceback" in debug.stderr


def test_learn_errors(tmp_path):
    result = run("learn", "piano", tmp_path / "nothing.wav", "-o", tmp_path / "p.npz")
    assert_one_line_error(result, "nothing.wav", exit_code=1)
    assert not (tmp_path / "p.npz").exists()
    result = run("learn", "piano", EXAMPLE / "train" / "keys.wav", "-o", tmp_path / "p.txt")
    assert_one_line_error(result, ".npz", exit_code=2)
    result = run("learn", "a/b", EXAMPLE / "train" / "keys.wav")
    assert_one_line_error(result, "a/b", exit_code=2)
    assert os.listdir(tmp_path) == []


def test_learn_default_stft_follows_the_training_rate(tmp_path):
    """About 200 ms at the rate learned at: --sample-rate decides it, --hop alone keeps
    the default n_fft, and a clip shorter than the default frame is told which fits."""
    clip = EXAMPLE / "train" / "keys.wav"  # 22.05 kHz
    out = tmp_path / "k.npz"
    summary = ok_json("learn", "keys", clip, "-o", out, "-k", 2, "-n", 2, "--sample-rate", 8000)
    assert (summary["sample_rate"], summary["n_fft"], summary["hop"]) == (8000, 2048, 512)
    summary = ok_json("learn", "keys", clip, "-o", out, "-k", 2, "-n", 2, "--hop", 512,
                      "--overwrite")
    assert (summary["n_fft"], summary["hop"]) == (4096, 512)
    result = run("learn", "keys", clip, "-o", out, "--hop", 3000, "--overwrite")
    assert_one_line_error(result, "--hop 3000 with the default n_fft 4096", exit_code=2)
    hit = tmp_path / "hit.wav"
    sf.write(hit, (0.1 * np.random.default_rng(0).standard_normal(6615)).astype(np.float32), 44100)
    result = run("learn", "hihat", hit, "-o", tmp_path / "h.npz")
    assert_one_line_error(result, "hit.wav", "n_fft=8192, the default", "at most 4096",
                          exit_code=1)
    ok("learn", "hihat", hit, "-o", tmp_path / "h.npz", "--n-fft", 4096, "-k", 2, "-n", 2, "-q")


def test_evaluate_errors(tmp_path):
    ok("separate", EXAMPLE_MIX, "-o", tmp_path, "-q", *FAST)
    result = run("evaluate", tmp_path / "mixture", EXAMPLE / "sources")  # source1 vs keys
    assert_one_line_error(result, "drums.wav", "matched by file name", "--match best", exit_code=1)
    result = run("evaluate", tmp_path / "nowhere", EXAMPLE / "sources")
    assert_one_line_error(result, "nowhere", exit_code=1)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run("evaluate", tmp_path / "mixture", empty)
    assert_one_line_error(result, "empty", exit_code=1)


def test_json_reports_the_components_actually_used(tmp_path):
    summary = ok_json("separate", EXAMPLE_MIX, "-o", tmp_path, "--sources", 2, *FAST)
    (item,) = summary["files"]
    assert item["n_components"] == 16  # the library's default for 2 sources
    groups = item["groups"]
    assert sorted(groups) == ["source1", "source2"]
    assert sorted(k for g in groups.values() for k in g) == list(range(16))


def test_downsampled_separation_writes_the_residual(tmp_path):
    """Dictionaries at 8 kHz on a 22.05 kHz mixture: residual.wav keeps the sum exact."""
    dicts = []
    for name in ("keys", "drums"):
        path = tmp_path / f"{name}.npz"
        ok("learn", name, EXAMPLE / "train" / f"{name}.wav", "--sample-rate", 8000,
           "--n-fft", 512, "-n", 10, "-q", "-o", path)
        dicts += ["--dict", path]
    summary = ok_json("separate", EXAMPLE_MIX, "-o", tmp_path / "out", "--float32", *dicts, *FAST)
    (item,) = summary["files"]
    assert item["residual"] == str(tmp_path / "out" / "mixture" / "residual.wav")
    mix, _ = read(EXAMPLE_MIX)
    names = ("keys", "drums", "residual")
    total = sum(read(tmp_path / "out" / "mixture" / f"{n}.wav")[0] for n in names)
    assert np.max(np.abs(total - mix)) < 1e-4
    # 16-bit, streamed and in memory: the residual is rounded with the sources, exactly
    for run, extra in (("pcm", ()), ("plot", ("--plot",))):
        summary = ok_json("separate", EXAMPLE_MIX, "-o", tmp_path / run, *dicts, *extra, *FAST)
        assert summary["files"][0]["residual"] is not None
        total = sum(read(tmp_path / run / "mixture" / f"{n}.wav")[0] for n in names)
        np.testing.assert_array_equal(total, mix)


def test_a_long_recording_learns_online_and_says_so(tmp_path, monkeypatch):
    """Above chunked.ONLINE_V_BYTES (here lowered below the example's V) the templates
    are learned online: --json says "fit": "online", the summary line says so in words."""
    from nmfaudio import chunked

    monkeypatch.setattr(chunked, "ONLINE_V_BYTES", 1000)
    (item,) = ok_json("separate", EXAMPLE_MIX, "-o", tmp_path / "j", *FAST)["files"]
    assert item["fit"] == "online"
    said = ok("separate", EXAMPLE_MIX, "-o", tmp_path / "v", *FAST)
    assert "templates learned online" in said.stdout
    monkeypatch.setattr(chunked, "ONLINE_V_BYTES", 1 << 30)
    (item,) = ok_json("separate", EXAMPLE_MIX, "-o", tmp_path / "w", *FAST)["files"]
    assert item["fit"] == "whole"


def test_blind_summary_and_json_say_how_components_became_sources(tmp_path):
    """Mono keys + drums: harmonic/percussive, in words; the panned stereo fixture: by
    direction, in --json."""
    said = ok("separate", EXAMPLE_MIX, "--sources", "2", "-o", tmp_path / "a", *FAST)
    assert "grouped by harmonic/percussive" in said.stdout
    (item,) = ok_json("separate", FIXTURES / "stereo" / "mixture.wav", "--sources", "2",
                      "-o", tmp_path / "b", "--json", *FAST)["files"]
    assert item["grouping"] == "spatial"


def test_channel_masks_shared_groups_stereo_as_one_channel(tmp_path, example_dicts):
    """--channel-masks shared (for sources that share a direction) takes the one-channel
    grouping, streamed and in memory, and says so; the sources still add up to the
    mixture. 'spatial' with dictionaries is a usage error, one line."""
    mixture = sf.read(str(STEREO_MIX), dtype="float64", always_2d=True)[0]
    for extra in ([], ["--plot"]):  # streamed, and in memory for the figure
        out = tmp_path / f"o{len(extra)}"
        (item,) = ok_json("separate", STEREO_MIX, "--sources", "2", "--channel-masks",
                          "shared", "-o", out, *extra, *FAST)["files"]
        assert item["grouping"] in ("harmonic-percussive", "register", "timbre")
        stems = [sf.read(str(p), dtype="float64", always_2d=True)[0]
                 for p in (s["path"] for s in item["sources"])]
        assert len(stems) == 2 and stems[0].shape == mixture.shape
        assert np.abs(sum(stems) - mixture).max() < 4 / 32768  # 16-bit steps
    result = run("separate", STEREO_MIX, "--dict", example_dicts["keys"], "--dict",
                 example_dicts["drums"], "--channel-masks", "spatial", "-o", tmp_path / "d")
    assert_one_line_error(result, "--channel-masks spatial", "--dict", exit_code=2)
    # the demo separates with dictionaries too: refused before it learns them
    result = run("demo", "--channel-masks", "spatial", "-o", tmp_path / "e", *FAST)
    assert_one_line_error(result, "--channel-masks spatial", "--sources", exit_code=2)
    assert not (tmp_path / "e").exists()


def test_json_says_which_stft_ran_streamed_and_in_memory(tmp_path):
    """The blind default follows the rate and, for a clip shorter than its frame, the
    clip: --json gives the n_fft and hop that ran (50 ms at 44.1 kHz: 2048, not 3072)."""
    path = tmp_path / "short.wav"
    rng = np.random.default_rng(3)
    sf.write(str(path), (0.1 * rng.standard_normal(2205)).astype(np.float32), 44100,
             subtype="PCM_16")
    for extra in ([], ["--plot"]):  # streamed, and in memory for the figure
        (item,) = ok_json("separate", path, "--sources", "2", "-o",
                          tmp_path / f"o{len(extra)}", *extra, *FAST)["files"]
        assert (item["n_fft"], item["hop"]) == (2048, 512)
    (item,) = ok_json("separate", EXAMPLE_MIX, "--sources", "2", "-o", tmp_path / "x",
                      *FAST)["files"]
    from nmfaudio.pipeline import blind_stft

    expected = blind_stft(item["sample_rate"], item["n_samples"])
    assert (item["n_fft"], item["hop"]) == (expected.n_fft, expected.hop_length)


def test_hop_alone_keeps_the_frame_that_follows_each_input(tmp_path):
    """Blind, --hop without --n-fft: each file gets the frame it gets with neither option
    (768 at 8 kHz, 1536 at 22.05 kHz), with that hop, streamed and in memory; a hop
    longer than half that frame is one line naming the file, and nothing is written."""
    from nmfaudio.pipeline import blind_stft

    rng = np.random.default_rng(5)
    low = tmp_path / "in" / "low.wav"
    low.parent.mkdir()
    sf.write(str(low), (0.1 * rng.standard_normal(16000)).astype(np.float32), 8000,
             subtype="PCM_16")
    for extra in ([], ["--plot"]):
        files = ok_json("separate", low, EXAMPLE_MIX, "--sources", "2", "--hop", "96",
                        "-o", tmp_path / f"o{len(extra)}", *extra, *FAST)["files"]
        for item in files:
            frame = blind_stft(item["sample_rate"], item["n_samples"]).n_fft
            assert (item["n_fft"], item["hop"]) == (frame, 96)
        assert {item["n_fft"] for item in files} == {768, 1536}
    result = run("separate", low, "--sources", "2", "--hop", "500", "-o", tmp_path / "bad",
                 *FAST)
    assert_one_line_error(result, "--hop 500", "low.wav", "n_fft 768", "384 or less",
                          exit_code=1)
    assert not (tmp_path / "bad").exists()


def test_grouping_register_is_asked_for_and_kept_for_blind_runs(tmp_path, example_dicts):
    """--grouping register: the same mixture grouped by register (streamed and with the
    figure, in memory), its sources adding up; with --dict it is a usage error."""
    for extra in ([], ["--plot"]):
        out = tmp_path / f"r{len(extra)}"
        (item,) = ok_json("separate", EXAMPLE_MIX, "--sources", "2", "--grouping", "register",
                          "-o", out, *extra, *FAST)["files"]
        assert item["grouping"] == "register"
        check_sources(item, EXAMPLE_MIX, ["source1", "source2"], tolerance=0.0)
    result = run("separate", EXAMPLE_MIX, "--dict", example_dicts["keys"], "--grouping",
                 "register", "-o", tmp_path / "d", *FAST)
    assert_one_line_error(result, "--grouping", exit_code=2)
