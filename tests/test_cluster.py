"""Batch naming, and separating files on a Dask LocalCluster of 2 worker processes."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

import pytest
import soundfile as sf

from nmfaudio.chunked import separate_to_files
from nmfaudio.cluster import output_folders, run_on_cluster, separate_files
from nmfaudio.errors import ParameterError
from nmfaudio.spectral import STFTConfig

FIXTURES = Path(__file__).resolve().parents[1] / "audio_fixtures"
CONFIG = STFTConfig(n_fft=512, hop_length=128)
SETTINGS = {"n_sources": 2, "stft_config": CONFIG, "n_iter": 20, "n_threads": 1}
TIMEOUT = 180  # seconds for a whole batch: generous for a loaded machine, never forever


# --------------------------------------------------------------------------- naming


def musdb(tmp_path, tracks=("Track A", "Track B")):
    paths = []
    for split, track in zip(("train", "test"), tracks):
        folder = tmp_path / "musdb" / split / track
        folder.mkdir(parents=True)
        paths.append(folder / "mixture.wav")
    return paths


def test_musdb_layout_is_named_by_parent_or_mirrored(tmp_path):
    inputs = musdb(tmp_path)
    with pytest.raises(ParameterError, match="mirror"):
        output_folders(inputs, "out")  # every track is 'mixture'
    assert output_folders(inputs, "out", naming="parent") == ["out/Track A", "out/Track B"]
    assert output_folders(inputs, "out", naming="mirror") == \
        ["out/train/Track A/mixture", "out/test/Track B/mixture"]
    same_track = musdb(tmp_path / "x", tracks=("T", "T"))
    with pytest.raises(ParameterError, match="both be written"):
        output_folders(same_track, "out", naming="parent")
    assert len(set(output_folders(same_track, "out", naming="mirror"))) == 2
    with pytest.raises(ParameterError, match="naming"):
        output_folders(inputs, "out", naming="flat")


# --------------------------------------------------------------------------- Dask

distributed = pytest.importorskip("distributed", reason="the 'dask' extra is not installed")


@pytest.fixture(scope="module")
def client():
    import cloudpickle
    import dask

    # this module's functions run on the workers, which cannot import tests/ by name
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    # a task whose worker dies fails at once (the scheduler's own retries would hide the
    # death from nmfaudio, which must clean up after it and retry or report)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None,
                                           silence_logs=logging.CRITICAL)
        client = distributed.Client(cluster)
        try:
            client.wait_for_workers(2, timeout=TIMEOUT)
            yield client
        finally:
            client.close()
            cluster.close()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Three short files (mono, stereo, and a third made from the mono one)."""
    folder = tmp_path_factory.mktemp("inputs")
    mono, rate = sf.read(FIXTURES / "example" / "mixture.wav", dtype="float32")
    stereo, _ = sf.read(FIXTURES / "stereo" / "mixture.wav", dtype="float32")
    paths = []
    for name, samples in (("a", mono[:44100]), ("b", stereo), ("c", 0.5 * mono[22050:])):
        path = folder / f"{name}.wav"
        sf.write(path, samples, rate, subtype="FLOAT")
        paths.append(path)
    return paths


def outputs(folder):
    """{relative path: samples} of every file (FLOAT WAVs carry a time stamp in their
    PEAK chunk, so the bytes of identical audio written in another second differ)."""
    return {str(p.relative_to(folder)): sf.read(p, dtype="float32")[0].tobytes()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_cluster_outputs_equal_one_process_bit_for_bit(client, inputs, tmp_path):
    results = separate_files(client, inputs, tmp_path / "dask", timeout=TIMEOUT, **SETTINGS)
    assert [r["ok"] for r in results] == [True, True, True]
    for path in inputs:
        folder = tmp_path / "here" / path.stem
        folder.mkdir(parents=True)
        separate_to_files(path, [folder / "source1.wav", folder / "source2.wav"], **SETTINGS)
    assert outputs(tmp_path / "dask") == outputs(tmp_path / "here")
    assert len(outputs(tmp_path / "dask")) == 6


@pytest.mark.slow
def test_a_bad_file_is_reported_and_the_others_are_written(client, inputs, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF but not really audio")
    results = separate_files(client, [inputs[0], bad, inputs[2]], tmp_path / "out",
                             timeout=TIMEOUT, **SETTINGS)
    assert [r["ok"] for r in results] == [True, False, True]
    assert "bad.wav" in results[1]["error"] and not results[1]["bug"]
    assert sorted(os.listdir(tmp_path / "out")) == ["a", "c"]  # no folder for the bad file


def _killed_mid_file(task):
    """Separate, but kill this worker process half way through writing the outputs,
    the first time only (a marker file remembers)."""
    from nmfaudio.cluster import _separate_one

    if os.path.exists(task["marker"]):
        return _separate_one(task)
    Path(task["marker"]).touch()

    def die(done, total, stage):
        if stage == "synthesis" and done > total * 3 // 4:
            os.kill(os.getpid(), signal.SIGKILL)  # leaves real partial temporary files

    task = dict(task, kwargs=dict(task["kwargs"], progress=die, chunk_frames=16))
    return _separate_one(task)


def _always_killed(task):
    os.makedirs(task["folder"], exist_ok=True)
    partial = Path(task["folder"]) / ".source1.wav.tmp-deadbeef"
    partial.write_bytes(b"half a file")
    os.kill(os.getpid(), signal.SIGKILL)


def _task(path, folder, marker):
    kwargs = {k: v for k, v in SETTINGS.items()}
    return {"input": str(path), "folder": str(folder), "names": ["source1", "source2"],
            "kwargs": kwargs, "marker": str(marker)}


@pytest.mark.slow
def test_a_worker_killed_mid_file_leaves_no_partial_file(client, inputs, tmp_path):
    from nmfaudio.cluster import _cleanup_one

    tasks = [_task(p, tmp_path / "out" / p.stem, tmp_path / f"{p.stem}.marker") for p in inputs]
    # every file kills its worker once; a file queued on a worker that another file
    # killed fails with it, hence one retry per death in the batch
    results = run_on_cluster(client, _killed_mid_file, tasks, labels=[str(p) for p in inputs],
                             cleanup=_cleanup_one, retries=len(tasks), timeout=TIMEOUT)
    assert all(r["ok"] for r in results), results
    for path in inputs:
        files = sorted(os.listdir(tmp_path / "out" / path.stem))
        assert files == ["source1.wav", "source2.wav"]  # no hidden temporary left
        data, _ = sf.read(tmp_path / "out" / path.stem / "source1.wav")
        assert data.shape[0] == sf.info(path).frames

    doomed = [_task(inputs[0], tmp_path / "doomed", tmp_path / "unused")]
    results = run_on_cluster(client, _always_killed, doomed, labels=["doomed.wav"],
                             cleanup=_cleanup_one, retries=1, timeout=TIMEOUT)
    assert not results[0]["ok"] and "died" in results[0]["error"]
    assert os.listdir(tmp_path / "doomed") == []


# --------------------------------------------------------------------------- command line


def cli(*args):
    from click.testing import CliRunner

    from nmfaudio.cli import cli as command

    try:
        runner = CliRunner(mix_stderr=False)
    except TypeError:  # click >= 8.2 keeps stderr apart by itself
        runner = CliRunner()
    return runner.invoke(command, [str(a) for a in args], catch_exceptions=False)


CLI_FAST = ["-n", "20", "--n-fft", "512", "--hop", "128", "-q"]


def test_cli_names_musdb_tracks_by_folder(inputs, tmp_path):
    tracks = musdb(tmp_path)
    for track, source in zip(tracks, inputs):
        track.write_bytes(source.read_bytes())
    refused = cli("separate", *tracks, "-o", tmp_path / "out", *CLI_FAST)
    assert refused.exit_code == 2 and "--naming mirror" in refused.stderr
    assert not (tmp_path / "out").exists()
    ok = cli("separate", *tracks, "-o", tmp_path / "out", "--naming", "parent", *CLI_FAST)
    assert ok.exit_code == 0, ok.stderr
    assert sorted(os.listdir(tmp_path / "out")) == ["Track A", "Track B"]
    ok = cli("separate", *tracks, "-o", tmp_path / "mirror", "--naming", "mirror", *CLI_FAST)
    assert ok.exit_code == 0, ok.stderr
    assert sorted(str(p.relative_to(tmp_path / "mirror")) for p in
                  (tmp_path / "mirror").rglob("*.wav")) == [
        "test/Track B/mixture/source1.wav", "test/Track B/mixture/source2.wav",
        "train/Track A/mixture/source1.wav", "train/Track A/mixture/source2.wav"]


@pytest.mark.slow
def test_cli_dask_local_writes_the_same_files_as_one_job(inputs, tmp_path):
    import json

    one = cli("separate", *inputs, "-o", tmp_path / "one", "--json", *CLI_FAST)
    assert one.exit_code == 0, one.stderr
    on_dask = cli("separate", *inputs, "-o", tmp_path / "dask", "--dask", "local", "--jobs", "2",
                  "--json", *CLI_FAST)
    assert on_dask.exit_code == 0, on_dask.stderr
    # 16-bit WAVs carry no time stamp: the files themselves are identical
    one_files = {str(p.relative_to(tmp_path / "one")): p.read_bytes()
                 for p in (tmp_path / "one").rglob("*.wav")}
    dask_files = {str(p.relative_to(tmp_path / "dask")): p.read_bytes()
                  for p in (tmp_path / "dask").rglob("*.wav")}
    assert len(one_files) == 6 and one_files == dask_files
    for line in (one.stdout, on_dask.stdout):
        for summary in json.loads(line)["files"]:
            assert summary["peak_memory_mb"] > 10 and summary["seconds_per_audio_minute"] > 0
