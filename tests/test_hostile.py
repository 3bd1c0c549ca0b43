"""Hostile input and faults (issue 10): what a careful user or an attacker may try.

Every command-line case asserts all of:

- the exit code;
- exactly one line on stderr, without a traceback and without "bug";
- nothing left under a final or a temporary name (or, where a run succeeds, exactly
  its outputs);
- the inputs byte-identical (SHA-256 before and after);
- for runs that succeed, sources that add up to the mixture.

The memory cases run in a child process under an address-space limit of 1 GiB (so a
failure is a clean test failure, not a machine out of memory) and assert that the
refusal came with a peak resident set below 500 MB and less than 2 s of CPU time
(CPU time, not wall-clock time: the machine is shared).

Audio is tiny and synthetic (1 s at 8 kHz), the NMF runs a few iterations: these
tests check the plumbing, not the quality.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import pickle
import resource
import subprocess
import sys
import threading
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

import nmfaudio
from nmfaudio import audio as audio_io
from nmfaudio.cli import cli
from nmfaudio.dictionary import Dictionary, learn_dictionary
from nmfaudio.errors import AudioFileError, InsufficientMemoryError, ParameterError
from nmfaudio.grouping import _pairwise
from nmfaudio.spectral import STFTConfig

REPO = Path(__file__).resolve().parents[1]
RATE = 8000
FAST = ["-n", "5", "--n-fft", "256", "-q"]
PCM_STEP = 1.0 / 32768
AS_LIMIT = 1 << 30  # address space of the memory-case children
MAX_RSS_MB = 500
MAX_CPU_S = 2.0


# --------------------------------------------------------------------------- helpers


def signal_mix(seconds: float = 1.0, channels: int = 1, rate: int = RATE, seed: int = 0):
    """Two tones and a noise burst, (C, N) float32, peak 0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (t < seconds / 2)
    other = 0.2 * np.sin(2 * np.pi * 1250 * t) * (t >= seconds / 3)
    noise = 0.1 * rng.standard_normal(t.size) * ((t * 4) % 1 < 0.2)
    mono = (tone + other + noise).astype(np.float32)
    out = np.stack([mono * (1.0 - 0.3 * c) for c in range(channels)])
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def write_mix(path: Path, seconds: float = 1.0, channels: int = 1, rate: int = RATE,
              subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), signal_mix(seconds, channels, rate).T, rate, subtype=subtype, format="WAV")
    return path


def digest(*paths) -> dict:
    return {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}


def leftovers(root: Path) -> list:
    """Hidden temporary files of an interrupted write, anywhere under ``root``."""
    return sorted(str(p) for p in root.rglob(".*") if ".partial-" in p.name or ".tmp-" in p.name)


def tree(root: Path) -> set:
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def one_line(stderr: str, *needles, kind: str = "error") -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"stderr should be one line:\n{stderr}"
    assert lines[0].startswith(f"nmfaudio: {kind}: "), lines[0]
    assert "Traceback" not in stderr and "bug" not in stderr.lower(), stderr
    for needle in needles:
        assert str(needle) in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def adds_up(folder: Path, mixture: Path) -> None:
    """The WAVs of ``folder`` (sources, and residual.wav if any) sum to the mixture."""
    mix, rate = sf.read(str(mixture), always_2d=True, dtype="float64")
    files = sorted(folder.glob("*.wav"))
    assert files, f"no sources in {folder}"
    total = np.zeros_like(mix)
    for path in files:
        samples, file_rate = sf.read(str(path), always_2d=True, dtype="float64")
        assert file_rate == rate and samples.shape == mix.shape, path
        assert np.isfinite(samples).all()
        total += samples
    # each 16-bit file rounds by half a step, the STFT round trip adds float32 noise
    assert np.max(np.abs(total - mix)) <= len(files) * PCM_STEP + 1e-4


def _runner() -> CliRunner:
    if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters:
        return CliRunner(mix_stderr=False)
    return CliRunner()


def run(*args):
    """The CLI in-process: (exit code, stdout, stderr)."""
    result = _runner().invoke(cli, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"unexpected exception {result.exception!r}\n{result.stderr}")
    return result.exit_code, result.stdout, result.stderr


class Outcome:
    def __init__(self, code, stdout, stderr, rss_mb, cpu_s):
        self.code, self.stdout, self.stderr = code, stdout, stderr
        self.rss_mb, self.cpu_s = rss_mb, cpu_s


MAIN = "import sys\nfrom nmfaudio.cli import main\nmain(sys.argv[1:])\n"

_LAUNCHER = """
import os, subprocess, sys
process = subprocess.Popen([sys.executable, *sys.argv[1:]])
_, status, usage = os.wait4(process.pid, 0)
with open(os.environ["HOSTILE_USAGE_FILE"], "w") as handle:
    handle.write(f"{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
sys.exit(os.waitstatus_to_exitcode(status) % 256)
"""


def child(args, *, cwd: Path, code: str = MAIN, address_space: int | None = None,
          file_size: int | None = None, timeout: float = 120, wait=None,
          measure: bool = False) -> Outcome:
    """Run ``python -c code args`` and measure this child alone (os.wait4); with
    ``measure``, through a launcher, so that the peak RSS is the command's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NMFAUDIO")}
    env.update(PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")

    def limits():
        if address_space:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        if file_size:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))

    out_path, err_path = cwd / ".child-out", cwd / ".child-err"
    command = [sys.executable, "-c", code, *map(str, args)]
    usage_path = cwd / ".child-usage"
    if measure:
        # A child forked from this (large) pytest process starts with its resident set,
        # and Linux keeps that high-water mark across exec: ru_maxrss would report
        # pytest's size. A small launcher process runs the command and reports the
        # usage of that grandchild alone.
        command = [sys.executable, "-c", _LAUNCHER, *command[1:]]
        env["HOSTILE_USAGE_FILE"] = str(usage_path)
    with open(out_path, "w+") as out, open(err_path, "w+") as err:
        process = subprocess.Popen(command, cwd=cwd,
                                   env=env, stdout=out, stderr=err, preexec_fn=limits)
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            if wait is not None:
                wait(process)
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
    stdout, stderr = out_path.read_text(), err_path.read_text()
    out_path.unlink()
    err_path.unlink()
    rss_kb, cpu_s = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    if measure:
        rss_kb, cpu_s = (float(x) for x in usage_path.read_text().split())
        usage_path.unlink()
    return Outcome(process.returncode, stdout, stderr, rss_kb / 1024, cpu_s)


@pytest.fixture
def work(tmp_path):
    """A mixture in tmp_path/in/, an output folder tmp_path/out/ (not created)."""
    mix = write_mix(tmp_path / "in" / "mix.wav")
    return tmp_path, mix, tmp_path / "out"


def learned(tmp_path: Path, name: str, rate: int = RATE, n_fft: int = 256) -> Path:
    path = tmp_path / "dicts" / f"{name}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = audio_io.Audio(signal_mix(1.0, 1, rate, seed=len(name)), rate)
    learn_dictionary(audio, 4, name=name, stft_config=STFTConfig(n_fft=n_fft, hop_length=n_fft // 4),
                     n_iter=5).save(path)
    return path


def edited(source: Path, target: Path, *, header=None, templates=None, extra=None) -> Path:
    """A copy of a dictionary file with its header fields or templates replaced."""
    with np.load(source, allow_pickle=False) as data:
        head = json.loads(str(data["header"]))
        arrays = {"templates": data["templates"]}
    head.update(header or {})
    arrays["header"] = np.array(json.dumps(head))
    if templates is not None:
        arrays["templates"] = templates
    arrays.update(extra or {})
    np.savez(target, **arrays)
    return target


# --------------------------------------------------------------------------- path traversal


def test_stem_dotdot_never_writes_outside_the_output_folder(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    mix = write_mix(tmp_path / "...wav")  # stem ".."
    before = digest(mix)
    monkeypatch.chdir(work)
    code, _, err = run("separate", "../...wav", "-o", "out", *FAST)
    assert code == 2
    one_line(err, "...wav", "rename")
    assert tree(work) == set() and sorted(os.listdir(tmp_path)) == ["...wav", "work"]
    assert digest(mix) == before


def test_output_folder_that_is_a_link_outside_is_refused(work):
    tmp_path, mix, out = work
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out.mkdir()
    (out / "mix").symlink_to(elsewhere)
    code, _, err = run("separate", mix, "-o", out, "--overwrite", *FAST)
    assert code == 1
    one_line(err, "outside the output folder")
    assert tree(elsewhere) == set() and not leftovers(tmp_path)


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", "nul\x00name", "new\nline"])
def test_dictionary_names_that_are_not_file_names_are_refused(tmp_path, name):
    good = learned(tmp_path, "keys")
    bad = edited(good, tmp_path / "bad.npz", header={"name": name})
    mix = write_mix(tmp_path / "in" / "mix.wav")
    before = digest(mix, bad)
    code, _, err = run("separate", mix, "--dict", bad, "-o", tmp_path / "out", "-n", "5", "-q")
    assert code == 1
    one_line(err, "bad.npz")
    assert not (tmp_path / "out").exists() and not leftovers(tmp_path)
    assert digest(mix, bad) == before


def test_learn_name_with_a_control_character_is_refused_before_any_work(work):
    tmp_path, mix, _ = work
    code, _, err = run("learn", "pi\nano", mix, "-o", tmp_path / "p.npz", "-n", "5")
    assert code == 2
    one_line(err, "plain name")
    assert not (tmp_path / "p.npz").exists()


# --------------------------------------------------------------------------- residual name


def test_source_named_residual_is_refused_when_a_residual_is_written(tmp_path):
    dicts = [learned(tmp_path, "residual", rate=4000), learned(tmp_path, "keys", rate=4000)]
    mix = write_mix(tmp_path / "in" / "mix.wav", rate=RATE)
    before = digest(mix, *dicts)
    args = ["separate", mix, "-o", tmp_path / "out", "-n", "5", "-q",
            "--dict", dicts[0], "--dict", dicts[1]]
    for extra in ([], ["--overwrite"]):
        code, _, err = run(*args, *extra)
        assert code == 1
        one_line(err, "'residual'", "another name")
        assert not (tmp_path / "out").exists() and not leftovers(tmp_path)
    assert digest(mix, *dicts) == before


def test_source_named_residual_is_fine_at_the_dictionaries_rate(tmp_path):
    dicts = [learned(tmp_path, "residual"), learned(tmp_path, "keys")]
    mix = write_mix(tmp_path / "in" / "mix.wav")
    code, _, err = run("separate", mix, "-o", tmp_path / "out", "-n", "5", "-q",
                       "--dict", dicts[0], "--dict", dicts[1])
    assert code == 0, err
    assert sorted(os.listdir(tmp_path / "out" / "mix")) == [".nmfaudio-outputs.json", "keys.wav",
                                                            "residual.wav"]
    adds_up(tmp_path / "out" / "mix", mix)


# --------------------------------------------------------------------------- full / read-only


def _tmpfs(folder: Path, options: str):
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


@pytest.fixture
def small_disk(tmp_path):
    folder = tmp_path / "small"
    _tmpfs(folder, "size=64k")
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


def test_disk_full_is_one_line_naming_the_file(work, small_disk):
    tmp_path, _, _ = work
    mix = write_mix(tmp_path / "in" / "long.wav", seconds=3.0)  # 48 kB per 16-bit source
    before = digest(mix)
    # a child process: its real stderr, where cffi would print an exception in a callback
    outcome = child(["separate", mix, "-o", small_disk, *FAST], cwd=tmp_path)
    assert outcome.code == 1
    line = one_line(outcome.stderr, "cannot write", "No space left on device")
    assert ".partial-" not in line
    assert tree(small_disk) == set() and not leftovers(small_disk)
    assert digest(mix) == before


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_disk_full_in_the_library_is_an_audio_file_error(small_disk):
    with pytest.raises(AudioFileError, match="No space left on device"):
        audio_io.save(small_disk / "big.wav", np.zeros((1, 200_000), np.float32) + 0.1, RATE)
    assert tree(small_disk) == set()


def test_read_only_output_folder(work):
    tmp_path, mix, _ = work
    folder = tmp_path / "ro"
    _tmpfs(folder, "ro,size=64k")
    try:
        code, _, err = run("separate", mix, "-o", folder, *FAST)
        assert code == 1
        one_line(err, str(folder))
        assert tree(folder) == set()
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_file_size_limit_is_one_line(work):
    tmp_path, _, out = work
    mix = write_mix(tmp_path / "in" / "long.wav", seconds=3.0)
    before = digest(mix)
    outcome = child(["separate", mix, "-o", out, *FAST], cwd=tmp_path, file_size=20_000)
    assert outcome.code == 1
    one_line(outcome.stderr, "cannot write", "File too large")
    assert tree(out) == set() and not leftovers(tmp_path)
    assert digest(mix) == before


# --------------------------------------------------------------------------- signals

SIGNAL_IN_SAVE = """
import os, signal, sys
from nmfaudio import audio
real, calls = audio.save, []
def save(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:  # while the second file is being written
        os.kill(os.getpid(), signal.{sig})
    return real(*args, **kwargs)
audio.save = save
real_write = audio.AudioWriter.write  # the sources are written in blocks, as computed
def write(self, block):
    calls.append(1)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.{sig})
    return real_write(self, block)
audio.AudioWriter.write = write
from nmfaudio.cli import main
main(sys.argv[1:])
"""

SIGNAL_IN_NMF = """
import os, signal, sys
from nmfaudio import pipeline
real = pipeline.nmf
def nmf(*args, **kwargs):
    os.kill(os.getpid(), signal.{sig})
    return real(*args, **kwargs)
pipeline.nmf = nmf
from nmfaudio.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_signal_while_writing_leaves_nothing(work, sig):
    tmp_path, mix, out = work
    before = digest(mix)
    outcome = child(["separate", mix, "-o", out, *FAST], cwd=tmp_path,
                    code=SIGNAL_IN_SAVE.format(sig=sig))
    assert outcome.code == 130
    one_line(outcome.stderr, "interrupted")
    assert not out.exists() and not leftovers(tmp_path)
    assert digest(mix) == before


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_signal_during_the_nmf_leaves_nothing(work, sig):
    tmp_path, mix, out = work
    before = digest(mix)
    outcome = child(["separate", mix, "-o", out, *FAST], cwd=tmp_path,
                    code=SIGNAL_IN_NMF.format(sig=sig))
    assert outcome.code == 130
    one_line(outcome.stderr, "interrupted")
    assert not out.exists() and not leftovers(tmp_path)
    assert digest(mix) == before


def test_sigterm_with_parallel_jobs_leaves_nothing(work):
    import multiprocessing

    if multiprocessing.get_start_method() != "fork":
        pytest.skip("the patch below reaches the workers only when they are forked")
    tmp_path, mix, out = work
    second = write_mix(tmp_path / "in" / "second.wav")
    code = """
import os, signal, sys, time
from nmfaudio import audio
real, parent = audio.save, os.getpid()
def save(*args, **kwargs):
    if os.getpid() != parent:  # in a worker, while it writes
        os.kill(parent, signal.SIGTERM)
        time.sleep(0.5)
    return real(*args, **kwargs)
audio.save = save
real_write = audio.AudioWriter.write  # the sources are written in blocks, as computed
def write(self, block):
    if os.getpid() != parent:
        os.kill(parent, signal.SIGTERM)
        time.sleep(0.5)
    return real_write(self, block)
audio.AudioWriter.write = write
from nmfaudio.cli import main
main(sys.argv[1:])
"""
    before = digest(mix, second)
    outcome = child(["separate", mix, second, "-o", out, "--jobs", "2", *FAST], cwd=tmp_path,
                    code=code)
    assert outcome.code == 130
    one_line(outcome.stderr, "interrupted")
    assert not out.exists() and not leftovers(tmp_path)
    assert digest(mix, second) == before


# --------------------------------------------------------------------------- stale outputs


def test_fewer_sources_with_overwrite_removes_the_stale_ones(work):
    tmp_path, mix, out = work
    assert run("separate", mix, "-o", out, "--sources", "3", *FAST)[0] == 0
    (out / "mix" / "notes.txt").write_text("mine")
    before = digest(mix)
    code, _, err = run("separate", mix, "-o", out, "--sources", "2", "--overwrite", *FAST)
    assert code == 0, err
    assert err == ""
    assert sorted(os.listdir(out / "mix")) == [".nmfaudio-outputs.json", "notes.txt",
                                               "source1.wav", "source2.wav"]
    adds_up(out / "mix", mix)
    assert digest(mix) == before


def test_fewer_components_with_overwrite_removes_the_stale_ones(work):
    tmp_path, mix, out = work
    assert run("separate", mix, "-o", out, "-k", "6", "--components-out", *FAST)[0] == 0
    assert len(os.listdir(out / "mix" / "components")) == 6
    code, _, err = run("separate", mix, "-o", out, "-k", "4", "--components-out",
                       "--overwrite", *FAST)
    assert code == 0, err
    assert sorted(os.listdir(out / "mix" / "components")) == [
        f"component_{k:02d}.wav" for k in range(4)]
    code, _, err = run("separate", mix, "-o", out, "-k", "4", "--overwrite", *FAST)
    assert code == 0, err
    assert not (out / "mix" / "components").exists()
    adds_up(out / "mix", mix)


def test_a_changed_or_foreign_file_is_never_removed(work):
    tmp_path, mix, out = work
    assert run("separate", mix, "-o", out, "--sources", "3", *FAST)[0] == 0
    changed = out / "mix" / "source3.wav"
    changed.write_bytes(changed.read_bytes() + b"\0\0")  # the user edited it since
    code, _, err = run("separate", mix, "-o", out, "--sources", "2", "--overwrite", *FAST)
    assert code == 0, err
    assert changed.exists()


def test_fewer_sources_without_overwrite_is_refused(work):
    tmp_path, mix, out = work
    assert run("separate", mix, "-o", out, "--sources", "3", *FAST)[0] == 0
    for name in ("source1.wav", "source2.wav"):
        (out / "mix" / name).unlink()
    before = tree(out)
    code, _, err = run("separate", mix, "-o", out, "--sources", "2", *FAST)
    assert code == 1
    one_line(err, "source3.wav", "--overwrite")
    assert tree(out) == before and not leftovers(tmp_path)


def test_two_runs_racing_into_one_folder(work):
    tmp_path, mix, out = work
    before = digest(mix)
    processes = []
    for i in range(2):
        err = open(tmp_path / f"err{i}", "w+")
        env = dict(os.environ, PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS="1")
        processes.append((subprocess.Popen(
            [sys.executable, "-m", "nmfaudio", "separate", str(mix), "-o", str(out), *FAST],
            stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=tmp_path), err))
    codes = []
    for process, err in processes:
        codes.append(process.wait(timeout=120))
        err.seek(0)
        text = err.read()
        err.close()
        if process.returncode:
            one_line(text, "--overwrite")
        else:
            assert text == ""
    assert sorted(codes) == [0, 1]  # the second finds the first's files, or loses the race
    assert sorted(os.listdir(out / "mix")) == [".nmfaudio-outputs.json", "source1.wav",
                                               "source2.wav"]
    adds_up(out / "mix", mix)
    assert not leftovers(tmp_path) and digest(mix) == before


# --------------------------------------------------------------------------- memory


def _refused_quickly(outcome: Outcome, *needles) -> None:
    assert outcome.code == 1, outcome.stderr
    one_line(outcome.stderr, "memory", *needles)
    assert outcome.rss_mb < MAX_RSS_MB, f"peak RSS {outcome.rss_mb:.0f} MB"
    assert outcome.cpu_s < MAX_CPU_S, f"{outcome.cpu_s:.2f} s of CPU"


def test_memory_hop_1_is_refused(tmp_path):
    # 10 s: with --hop alone the frame is the blind default (1536 at 22.05 kHz), and
    # 5 s of it at hop 1 (a 340 MB V) fit in the children's 1 GiB and ran
    mix = write_mix(tmp_path / "in" / "ten.wav", seconds=10.0, rate=22050)
    before = digest(mix)
    outcome = child(["separate", mix, "-o", tmp_path / "out", "--hop", "1"], cwd=tmp_path,
                    address_space=AS_LIMIT, measure=True)
    _refused_quickly(outcome, "--hop")
    assert not (tmp_path / "out").exists()
    assert digest(mix) == before


def test_memory_100000_components_is_refused(tmp_path):
    mix = write_mix(tmp_path / "in" / "five.wav", seconds=5.0, rate=22050)
    before = digest(mix)
    outcome = child(["separate", mix, "-o", tmp_path / "out", "-k", "100000"], cwd=tmp_path,
                    address_space=AS_LIMIT, measure=True)
    _refused_quickly(outcome, "--components")
    assert not (tmp_path / "out").exists()
    assert digest(mix) == before


def test_memory_learn_100000_templates_is_refused(tmp_path):
    mix = write_mix(tmp_path / "in" / "five.wav", seconds=5.0, rate=22050)
    before = digest(mix)
    outcome = child(["learn", "big", mix, "-k", "100000", "-o", tmp_path / "big.npz"],
                    cwd=tmp_path, address_space=AS_LIMIT, measure=True)
    _refused_quickly(outcome, "-k 100000")
    assert not (tmp_path / "big.npz").exists()
    assert digest(mix) == before


@pytest.fixture(scope="module")
def three_hours_of_dc(tmp_path_factory):
    """3 hours of a constant at 8 kHz: a FLAC of about 270 kB (86 million samples)."""
    path = tmp_path_factory.mktemp("dc") / "dc.flac"
    with sf.SoundFile(str(path), "w", RATE, 1, subtype="PCM_16", format="FLAC") as handle:
        block = np.full((RATE * 60, 1), 0.25, dtype=np.float32)
        for _ in range(180):
            handle.write(block)
    return path


def test_memory_three_hours_of_dc_is_refused(tmp_path, three_hours_of_dc):
    before = digest(three_hours_of_dc)
    outcome = child(["separate", three_hours_of_dc, "-o", tmp_path / "out"], cwd=tmp_path,
                    address_space=AS_LIMIT, measure=True)
    _refused_quickly(outcome, "dc.flac")
    assert not (tmp_path / "out").exists()
    assert digest(three_hours_of_dc) == before


class _ZerosDeflater:
    """zipfile's deflate compressor, made quick for a megabyte of zeros at a time.

    Every call ends with a full flush (byte-aligned, no reference to earlier data), so
    the one compressed megabyte of zeros can be repeated: a genuine, valid deflate
    stream, without spending half a minute compressing 2 GB.
    """

    ZEROS = bytes(1 << 20)

    def __init__(self):
        self._real = zlib.compressobj(9, zlib.DEFLATED, -15)
        once = zlib.compressobj(9, zlib.DEFLATED, -15)
        self._chunk = once.compress(self.ZEROS) + once.flush(zlib.Z_FULL_FLUSH)

    def compress(self, data):
        if len(data) == len(self.ZEROS) and not any(data[:64]) and data == self.ZEROS:
            return self._chunk
        return self._real.compress(data) + self._real.flush(zlib.Z_FULL_FLUSH)

    def flush(self, mode=zlib.Z_FINISH):
        return self._real.flush(mode)


def test_memory_deflate_bomb_dictionary_is_refused(tmp_path, monkeypatch):
    good = learned(tmp_path, "keys", n_fft=512)
    bomb = tmp_path / "bomb.npz"
    with np.load(good) as data:
        header = str(data["header"])
    shape = (257, 2_000_000)  # 2 GB of float32 zeros
    with monkeypatch.context() as patch:
        patch.setattr(zipfile, "_get_compressor", lambda *args, **kwargs: _ZerosDeflater())
        with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            with archive.open("header.npy", "w") as handle:
                np.lib.format.write_array(handle, np.array(header))
            with archive.open("templates.npy", "w", force_zip64=True) as handle:
                np.lib.format.write_array_header_1_0(
                    handle, {"descr": "<f4", "fortran_order": False, "shape": shape})
                left = shape[0] * shape[1] * 4
                while left:
                    handle.write(_ZerosDeflater.ZEROS[:min(left, 1 << 20)])
                    left -= min(left, 1 << 20)
    assert bomb.stat().st_size < 4_000_000
    info = zipfile.ZipFile(bomb).getinfo("templates.npy")
    assert info.file_size > 2_000_000_000  # what np.load would have decompressed
    mix = write_mix(tmp_path / "in" / "mix.wav")
    before = digest(mix, bomb)
    outcome = child(["separate", mix, "--dict", bomb, "-o", tmp_path / "out"], cwd=tmp_path,
                    address_space=AS_LIMIT, measure=True)
    _refused_quickly(outcome, "bomb.npz")
    assert not (tmp_path / "out").exists()
    assert digest(mix, bomb) == before


def test_memory_estimate_refuses_in_the_library_too(tmp_path):
    from nmfaudio._budget import check_memory, separation_estimate

    estimate = separation_estimate(110_250, 1, n_fft=2048, hop_length=1, n_components=16,
                                   n_sources=2)
    with pytest.raises(InsufficientMemoryError, match="hop"):
        check_memory(estimate, what="separating x", available=500_000_000,
                     advice={"spectrogram": "use a larger hop_length"})
    small = separation_estimate(110_250, 1, n_fft=2048, hop_length=512, n_components=16,
                                n_sources=2)
    check_memory(small, what="separating x", available=500_000_000, advice={})
    assert estimate.total > 100 * small.total


def test_memory_library_separate_and_learn_refuse_before_the_stft(tmp_path, monkeypatch):
    from nmfaudio import _budget, pipeline

    monkeypatch.setattr(_budget, "available_bytes", lambda: 500_000_000)
    monkeypatch.setattr(pipeline, "stft_transform", None)  # reaching the STFT would fail
    mix = write_mix(tmp_path / "five.wav", seconds=5.0, rate=22050)
    with pytest.raises(InsufficientMemoryError, match="hop_length"):
        nmfaudio.separate(mix, n_sources=2, stft_config=STFTConfig(n_fft=2048, hop_length=1))
    with pytest.raises(InsufficientMemoryError, match="n_components"):
        nmfaudio.separate(mix, n_sources=2, n_components=100_000)
    with pytest.raises(InsufficientMemoryError, match="n_components"):
        learn_dictionary(mix, 100_000, name="big")


def test_grouping_distances_match_broadcasting():
    features = np.random.default_rng(0).random((30, 12))
    diff = features[:, None, :] - features[None, :, :]
    np.testing.assert_allclose(_pairwise(features), np.sqrt((diff ** 2).sum(-1)), atol=1e-12)


# --------------------------------------------------------------------------- dictionaries


@pytest.mark.parametrize("case, needle", [
    ("complex", "complex"),
    ("strings", "<U"),
    ("version string", "format_version '1'"),
    ("overflow", "norm"),
    ("huge float64", "(as float32)"),
    ("pickle", "not an nmfaudio dictionary"),
    ("npy", "not a .npz"),
    ("no header", "not templates and header"),
    ("three-d", "(F, K)"),
])
def test_edited_dictionary_is_refused_naming_the_file(tmp_path, case, needle):
    good = learned(tmp_path, "keys")
    bad = tmp_path / "edited.npz"
    with np.load(good) as data:
        templates = data["templates"]
    marker = tmp_path / "pwned"
    if case == "complex":
        edited(good, bad, templates=templates.astype(np.complex64) * (1 + 1j))
    elif case == "strings":
        edited(good, bad, templates=templates.astype(str))
    elif case == "version string":
        edited(good, bad, header={"format_version": "1"})
    elif case == "overflow":
        edited(good, bad, templates=templates.astype(np.float64) * 1e38)
    elif case == "huge float64":
        edited(good, bad, templates=templates.astype(np.float64) * 1e300)
    elif case == "pickle":
        class Evil:
            def __reduce__(self):
                return (open, (str(marker), "w"))
        with zipfile.ZipFile(bad, "w") as archive:
            with archive.open("templates.npy", "w") as handle:
                np.lib.format.write_array(handle, np.array([Evil()], dtype=object),
                                          allow_pickle=True)
            with archive.open("header.npy", "w") as handle:
                np.lib.format.write_array(handle, np.array(pickle.dumps(1).hex()))
    elif case == "npy":
        np.save(tmp_path / "edited.npy", templates)
        os.replace(tmp_path / "edited.npy", bad)
    elif case == "no header":
        np.savez(bad, templates=templates)
    elif case == "three-d":
        edited(good, bad, templates=templates[None])
    mix = write_mix(tmp_path / "in" / "mix.wav")
    before = digest(mix, bad)
    code, _, err = run("separate", mix, "--dict", bad, "-o", tmp_path / "out", "-n", "5", "-q")
    assert code == 1
    one_line(err, "edited.npz", needle)
    assert not (tmp_path / "out").exists() and not marker.exists()
    assert digest(mix, bad) == before


def test_dictionary_stores_base_names_of_training_files(tmp_path):
    mix = write_mix(tmp_path / "deep" / "private" / "folder" / "piano.wav")
    dictionary = learn_dictionary([mix], 3, name="piano", n_iter=5,
                                  stft_config=STFTConfig(n_fft=256, hop_length=64))
    assert dictionary.metadata["training_files"] == ["piano.wav"]
    path = dictionary.save(tmp_path / "piano.npz")
    assert str(tmp_path) not in zipfile.ZipFile(path).read("header.npy").decode("latin-1")


# --------------------------------------------------------------------------- Python API


def test_api_nmf_ragged_list():
    with pytest.raises(ParameterError, match="rectangular"):
        nmfaudio.nmf([[1, 2], [3]])


def test_api_nmf_unknown_dtype():
    with pytest.raises(ParameterError, match="float32 or np.float64"):
        nmfaudio.nmf(np.ones((3, 3)), 2, dtype="banana")


def test_api_separate_accepts_a_single_dictionary(tmp_path):
    dictionary = Dictionary.load(learned(tmp_path, "keys"))
    mix = audio_io.Audio(signal_mix(), RATE)
    separation = nmfaudio.separate(mix, dictionaries=dictionary, n_free=2, n_iter=5)
    assert separation.source_names == ("keys", "other")
    np.testing.assert_allclose(separation.sources.sum(axis=0), mix.samples, atol=1e-4)


def test_api_learn_dictionary_of_a_number():
    with pytest.raises(ParameterError, match="training must be"):
        learn_dictionary(42, 4, name="x")


def test_api_dictionary_load_of_a_number():
    with pytest.raises(ParameterError, match="path of a .npz"):
        Dictionary.load(42)


def test_api_dictionary_with_a_nul_in_its_name():
    with pytest.raises(ParameterError, match="control character"):
        Dictionary("a\x00b", np.ones((129, 2)) / np.sqrt(129), RATE,
                   STFTConfig(n_fft=256, hop_length=64))


# --------------------------------------------------------------------------- audio files


def test_wav_cut_short_warns_naming_the_file(work):
    tmp_path, mix, out = work
    cut = tmp_path / "in" / "cut.wav"
    data = mix.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    before = digest(cut)
    code, _, err = run("separate", cut, "-o", out, *FAST)
    assert code == 0
    one_line(err, "cut.wav", "cut short", kind="warning")
    adds_up(out / "cut", cut)
    assert digest(cut) == before and not leftovers(tmp_path)


def test_file_named_like_an_option_after_double_dash(work):
    tmp_path, _, out = work
    dash = write_mix(tmp_path / "in" / "-dash.wav")
    code, help_text, _ = run("separate", "--help")
    assert code == 0 and "'--'" in help_text
    code, _, err = run("separate", "-o", out, *FAST, "--", dash)
    assert code == 0, err
    adds_up(out / "-dash", dash)


@pytest.mark.parametrize("content, needle", [
    (b"", "mix.wav"),
    (b"this is not audio\n" * 10, "mix.wav"),
    (b"RIFF\x10\x00\x00\x00WAVEfmt ", "mix.wav"),
])
def test_unreadable_audio_is_one_line(tmp_path, content, needle):
    mix = tmp_path / "in" / "mix.wav"
    mix.parent.mkdir()
    mix.write_bytes(content)
    before = digest(mix)
    code, _, err = run("separate", mix, "-o", tmp_path / "out", *FAST)
    assert code == 1
    one_line(err, needle)
    assert not (tmp_path / "out").exists() and digest(mix) == before


@pytest.mark.parametrize("subtype, channels, rate", [
    ("PCM_U8", 1, 8000),
    ("PCM_24", 2, 11025),
    ("DOUBLE", 1, 8000),
    ("FLOAT", 6, 8000),
    ("ULAW", 1, 8000),
])
def test_odd_but_valid_audio_formats_add_up(tmp_path, subtype, channels, rate):
    mix = write_mix(tmp_path / "in" / "odd.wav", channels=channels, rate=rate, subtype=subtype)
    before = digest(mix)
    code, _, err = run("separate", mix, "-o", tmp_path / "out", "--float32", *FAST)
    assert code == 0, err
    assert err == ""
    adds_up(tmp_path / "out" / "odd", mix)
    assert digest(mix) == before


def test_nan_samples_are_refused(tmp_path):
    samples = signal_mix()
    samples[0, 100] = np.nan
    mix = tmp_path / "nan.wav"
    sf.write(str(mix), samples.T, RATE, subtype="FLOAT")
    before = digest(mix)
    code, _, err = run("separate", mix, "-o", tmp_path / "out", *FAST)
    assert code == 1
    one_line(err, "nan.wav", "NaN")
    assert not (tmp_path / "out").exists() and not leftovers(tmp_path)
    assert digest(mix) == before


@pytest.mark.parametrize("beta", ["kl", "is"])
def test_silence_is_refused(tmp_path, beta):
    mix = tmp_path / "silence.wav"
    sf.write(str(mix), np.zeros(RATE, np.float32), RATE)
    before = digest(mix)
    code, _, err = run("separate", mix, "-o", tmp_path / "out", "--beta", beta, *FAST)
    assert code == 1
    one_line(err, "silence.wav", "silent")
    assert not (tmp_path / "out").exists() and not leftovers(tmp_path)
    assert digest(mix) == before


@pytest.mark.parametrize("beta", ["kl", "is"])
def test_almost_silence_adds_up_without_nan(tmp_path, beta):
    samples = np.zeros(RATE, np.float32)
    samples[RATE // 2] = PCM_STEP  # one step of a 16-bit file in a second of silence
    mix = tmp_path / "quiet.wav"
    sf.write(str(mix), samples, RATE, subtype="PCM_16")
    before = digest(mix)
    code, _, err = run("separate", mix, "-o", tmp_path / "out", "--beta", beta, "--float32",
                       *FAST)
    assert code == 0, err
    adds_up(tmp_path / "out" / "quiet", mix)
    assert digest(mix) == before and not leftovers(tmp_path)


def test_input_that_is_a_folder(tmp_path):
    folder = tmp_path / "folder.wav"
    folder.mkdir()
    code, _, err = run("separate", folder, "-o", tmp_path / "out", *FAST)
    assert code == 1
    one_line(err, "folder.wav")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- blind path battery
# (a hostile-input run of the blind defaults: very short clips, many sources, odd rates;
# each case passed then except that 16-bit files of S >= 4 sources did not add up)

def _clicks(rate: int, seconds: float, seed: int = 0) -> np.ndarray:
    """Decaying noise bursts every 0.25 s at three levels: a crude drum loop."""
    rng = np.random.default_rng(seed)
    n = max(1, int(rate * seconds))
    x = np.zeros(n, dtype=np.float32)
    burst = (rng.standard_normal(max(2, rate // 50)) * np.exp(-np.linspace(0, 6, max(2, rate // 50))))
    for i, start in enumerate(range(0, n, max(1, rate // 4))):
        piece = burst[: n - start] * (0.2, 0.35, 0.5)[i % 3]
        x[start:start + piece.size] += piece.astype(np.float32)
    return x


@pytest.mark.parametrize("rate, seconds, n_sources", [
    (44100, 0.05, 40),   # shorter than a handful of frames, far more sources than sense
    (44100, 0.5, 12),
    (100, 30.0, 3),      # no register above 40 Hz: the drum kit is not tried
    (192000, 1.0, 3),
])
def test_blind_cli_odd_inputs_add_up_in_16_bits(tmp_path, rate, seconds, n_sources):
    path = tmp_path / "in.wav"
    sf.write(str(path), _clicks(rate, seconds), rate, subtype="PCM_16")
    before = path.read_bytes()
    result = CliRunner().invoke(cli, ["separate", str(path), "--sources", str(n_sources), "-n", "20",
                                      "-q", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == before  # the input is never touched
    mix = sf.read(str(path), dtype="int32", always_2d=True)[0]
    files = sorted((tmp_path / "out" / "in").glob("source*.wav"))
    assert len(files) == n_sources
    total = sum(sf.read(str(f), dtype="int32", always_2d=True)[0] for f in files)
    np.testing.assert_array_equal(total, mix)  # 16-bit steps, summed exactly


# --------------------------------------------------------------------------- extreme levels
# (float files can hold any level; the fits have a range where float32 holds, see
# nmfaudio.pipeline.LEVEL_RANGE, and 16-bit files a step under which all is silence)

@pytest.mark.parametrize("scale, needle", [(1e-40, "too quiet to separate"),
                                           (1e20, "too loud to separate")])
@pytest.mark.parametrize("in_memory", [False, True])
def test_float_files_beyond_the_fits_range_are_refused(tmp_path, scale, needle, in_memory):
    mix = tmp_path / "level.wav"
    sf.write(str(mix), (signal_mix().T * np.float32(scale)).astype(np.float32), RATE,
             subtype="FLOAT")
    before = digest(mix)
    extra = ["--plot"] if in_memory else []  # the figure needs the separation in memory
    code, _, err = run("separate", mix, "-o", tmp_path / "out", "--float32", *extra, *FAST)
    assert code == 1
    one_line(err, "level.wav", needle, "normalise")  # one line: no RuntimeWarning first
    assert not (tmp_path / "out").exists() and not leftovers(tmp_path)
    assert digest(mix) == before


@pytest.mark.parametrize("scale, needle", [(1e-44, "too quiet to learn from"),
                                           (1e-30, "too quiet to learn from"),
                                           (1e36, "too loud to learn from"),
                                           (1e38, "too loud to learn from")])
def test_learning_from_float_files_beyond_the_fits_range_is_refused(tmp_path, scale, needle):
    """Learning used to print a RuntimeWarning and "the fit left the range of float32
    ... use dtype=np.float64" (API advice, no file named), or a non-finite STFT."""
    clip = tmp_path / "level.wav"
    sf.write(str(clip), (signal_mix()[0] * np.float32(scale)).astype(np.float32), RATE,
             subtype="FLOAT")
    before = digest(clip)
    code, _, err = run("learn", "x", clip, "-o", tmp_path / "x.npz", "-k", 4, "-n", 5)
    assert code == 1
    one_line(err, "level.wav", needle, "normalise")
    assert not (tmp_path / "x.npz").exists() and not leftovers(tmp_path)
    assert digest(clip) == before


def test_learning_is_gain_invariant_inside_the_range():
    quiet, loud = (audio_io.Audio(signal_mix()[:1] * np.float32(g), RATE) for g in (2.0 ** -20, 2.0 ** 20))
    a = learn_dictionary(quiet, 4, name="x", n_iter=20)
    b = learn_dictionary(loud, 4, name="x", n_iter=20)
    np.testing.assert_allclose(a.templates, b.templates, atol=1e-6)


@pytest.mark.parametrize("in_memory", [False, True])
def test_a_float_file_under_half_a_16_bit_step_is_refused_for_16_bit_files(tmp_path, in_memory):
    mix = tmp_path / "faint.wav"
    sf.write(str(mix), (signal_mix().T * np.float32(2e-5)).astype(np.float32), RATE,
             subtype="FLOAT")  # peak 1e-5, a third of a 16-bit step
    before = digest(mix)
    extra = ["--plot"] if in_memory else []
    code, _, err = run("separate", mix, "-o", tmp_path / "out", *extra, *FAST)
    assert code == 1
    one_line(err, "faint.wav", "too quiet for 16-bit files", "--float32")
    assert not (tmp_path / "out").exists() and not leftovers(tmp_path)
    # as floats it separates, and the files add up to the mixture
    code, _, err = run("separate", mix, "-o", tmp_path / "out", "--float32", *extra, *FAST)
    assert code == 0, err
    adds_up(tmp_path / "out" / "faint", mix)
    assert digest(mix) == before


def test_a_float_file_in_the_16_bit_integer_scale_separates(tmp_path):
    """Some tools write float WAVs scaled like 16-bit integers (peaks near 32768)."""
    mix = tmp_path / "int_scale.wav"
    sf.write(str(mix), (signal_mix().T * np.float32(32768)).astype(np.float32), RATE,
             subtype="FLOAT")
    code, _, err = run("separate", mix, "-o", tmp_path / "out", "--float32", *FAST)
    assert code == 0, err
    mix_samples, _ = sf.read(str(mix), always_2d=True, dtype="float64")
    total = sum(sf.read(str(f), always_2d=True, dtype="float64")[0]
                for f in (tmp_path / "out" / "int_scale").glob("*.wav"))
    assert np.max(np.abs(total - mix_samples)) <= 1e-4 * 32768


@pytest.mark.parametrize("beta", ["is", "kl", "euclidean"])
def test_api_levels_at_the_ends_of_the_range_separate_as_at_unit_level(beta):
    """Scaling a signal by a power of two scales every float operation of the separation
    exactly (the fits' eps and starting point are relative to V), so at both ends of
    LEVEL_RANGE the sources are the unit-level ones, scaled; a factor of 4 beyond either
    end is refused, naming the level and the way out."""
    from nmfaudio.pipeline import LEVEL_RANGE, blind_stft
    from nmfaudio.spectral import spectrogram, stft

    x = signal_mix()
    config = blind_stft(RATE)  # the V separate() computes
    peak = float(spectrogram(stft(x, config)).max())
    unit = nmfaudio.separate(x, sample_rate=RATE, n_sources=2, beta=beta, n_iter=20).sources
    low = np.floor(np.log2(LEVEL_RANGE[0] / peak)) + 1  # V peaks just inside the range
    high = np.ceil(np.log2(LEVEL_RANGE[1] / peak)) - 1
    for exponent in (low, high):
        scale = np.float32(2.0 ** exponent)
        sources = nmfaudio.separate(x * scale, sample_rate=RATE, n_sources=2, beta=beta,
                                    n_iter=20).sources
        assert np.isfinite(sources).all()
        np.testing.assert_allclose(sources / scale, unit, rtol=0, atol=1e-5)
    for exponent, needle in ((low - 2, "too quiet"), (high + 2, "too loud")):
        with pytest.raises(AudioFileError, match=needle):
            nmfaudio.separate(x * np.float32(2.0 ** exponent), sample_rate=RATE, n_sources=2,
                              beta=beta, n_iter=20)


@pytest.mark.parametrize("mode", ["online", "supervised streamed"])
@pytest.mark.parametrize("scale, needle", [(1e-40, "too quiet to separate"),
                                           (1e37, "too loud to separate")])
def test_passes_that_fit_while_reading_refuse_a_level_in_one_line(tmp_path, monkeypatch, mode,
                                                                    scale, needle):
    """The online pass (a long recording) and the streamed supervised pass fit blocks of
    V before the recording's whole level is known: still one line, no RuntimeWarning."""
    mix = tmp_path / "level.wav"
    sf.write(str(mix), (signal_mix().T * np.float32(scale)).astype(np.float32), RATE,
             subtype="FLOAT")
    if mode == "online":
        import nmfaudio.chunked

        monkeypatch.setattr(nmfaudio.chunked, "ONLINE_V_BYTES", 1)
        extra = []
    else:
        extra = ["--dict", learned(tmp_path, "tones"), "--dict", learned(tmp_path, "noise")]
    code, _, err = run("separate", mix, "-o", tmp_path / "out", "--float32", *extra, *FAST)
    assert code == 1
    one_line(err, "level.wav", needle)
    assert not (tmp_path / "out").exists() and not leftovers(tmp_path)


def test_a_quiet_passage_is_not_a_quiet_recording_online(tmp_path, monkeypatch):
    """A second of signal after a second at 1e-30 (under the range): separated."""
    import nmfaudio.chunked

    monkeypatch.setattr(nmfaudio.chunked, "ONLINE_V_BYTES", 1)
    samples = np.concatenate([signal_mix() * np.float32(1e-30), signal_mix()], axis=1)
    mix = tmp_path / "intro.wav"
    sf.write(str(mix), samples.T, RATE, subtype="FLOAT")
    code, _, err = run("separate", mix, "-o", tmp_path / "out", "--float32", *FAST)
    assert code == 0, err
    adds_up(tmp_path / "out" / "intro", mix)


def test_a_mixture_held_by_the_residual_alone_is_not_refused_for_16_bits(tmp_path):
    """Noise above the dictionaries' band goes to residual.wav; the sources round to
    zero, but the files still hold the mixture: written, not refused as too quiet."""
    rate = 4 * RATE
    rng = np.random.default_rng(0)
    hiss = np.diff(rng.standard_normal(rate + 1)).astype(np.float32)  # mostly above 4 kHz
    from scipy.signal import butter, sosfilt

    hiss = sosfilt(butter(8, 6000, "highpass", fs=rate, output="sos"), hiss)
    mix = tmp_path / "hiss.wav"
    sf.write(str(mix), (hiss / np.abs(hiss).max() * 5e-4).astype(np.float32), rate, subtype="FLOAT")
    dicts = ["--dict", learned(tmp_path, "tones"), "--dict", learned(tmp_path, "noise")]
    for extra in ([], ["--plot"]):
        out = tmp_path / f"out{len(extra)}"
        code, _, err = run("separate", mix, "-o", out, *dicts, *extra, *FAST)
        assert code == 0, err
        assert (out / "hiss" / "residual.wav").exists()


@pytest.mark.parametrize("beta", ["is", "kl", "euclidean"])
def test_api_drum_kit_at_the_ends_of_the_range_separates_as_at_unit_level(shared_audio, beta):
    """The drum kit's NMFD (squares of V with beta=2) at both ends of LEVEL_RANGE."""
    from nmfaudio.pipeline import LEVEL_RANGE, blind_stft
    from nmfaudio.spectral import spectrogram, stft

    x, rate = sf.read(str(shared_audio / "drums_808" / "mixture.wav"), dtype="float32",
                      always_2d=True)
    x = np.ascontiguousarray(x.T[:, :2 * rate])
    peak = float(spectrogram(stft(x, blind_stft(rate))).max())
    unit = nmfaudio.separate(x, sample_rate=rate, n_sources=3, beta=beta, n_iter=30)
    assert unit.grouping == "drum-kit"
    for exponent in (np.floor(np.log2(LEVEL_RANGE[0] / peak)) + 1,
                     np.ceil(np.log2(LEVEL_RANGE[1] / peak)) - 1):
        scale = np.float32(2.0 ** exponent)
        sources = nmfaudio.separate(x * scale, sample_rate=rate, n_sources=3, beta=beta,
                                    n_iter=30).sources
        np.testing.assert_allclose(sources / scale, unit.sources, rtol=0, atol=1e-5)
