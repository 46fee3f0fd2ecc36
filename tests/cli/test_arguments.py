"""The command line's error path: each class of bad argument gets one message that names the argument,
says what is wrong and what to do, with exit status 2 (1 for a failed run) and no traceback."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import pytest

import ember
from ember.cli import COMMANDS, build_parser, main
from ember.data import MNIST
from ember.train import memory

from .conftest import train_args

HERE = str(Path(__file__))  # an existing file, where a test needs one


def model_args(root: Path, output: Path, model: str, *extra: str) -> list[str]:
    """``train_args`` for another model than the tiny MLP (whose options are dropped)."""
    argv = train_args(root, output, "--model", model, *extra)
    at = argv.index("model_options.hidden=[64]")
    return argv[: at - 1] + argv[at + 1 :]


def ember_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of ``ember ARGV`` (argparse's own exits included)."""
    try:
        status = main(list(argv))
    except SystemExit as stop:
        status = stop.code if isinstance(stop.code, int) else 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return status, out, err


def test_version_is_the_packages(capsys):
    status, out, _ = ember_cli(capsys, "--version")
    assert status == 0 and out == f"ember {ember.__version__}\n"


def test_an_unknown_command_names_the_closest(capsys):
    status, _, err = ember_cli(capsys, "trian", "--epochs", "2")
    assert status == 2
    assert "ember: unknown command 'trian'; did you mean 'train'? the commands are: demo, train" in err
    status, _, err = ember_cli(capsys, "--verison")
    assert status == 2 and "ember: unknown option --verison; did you mean --version?" in err
    status, _, err = ember_cli(capsys, "--epochs", "3", "train")
    assert status == 2 and "ember: unknown option --epochs; see 'ember --help' for the options" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["train", "--learning-rate", "0.1"],
            "ember train: unknown option --learning-rate; did you mean --lr?",
        ),
        (
            ["train", "--optimiser", "adam"],
            "ember train: unknown option --optimiser; did you mean --optimizer?",
        ),
        (
            ["train", "--label_smoothing=0.1"],
            "unknown option --label_smoothing; did you mean --label-smoothing?",
        ),
        (["train", "--optimizer.lr", "1"], "unknown option --optimizer.lr; did you mean --lr?"),
        (["train", "--betas", "0.9,0.99"], "did you mean --set optimizer.betas=VALUE?"),
        (["train", "--num-workers", "2"], "unknown option --num-workers; did you mean --workers?"),
        (["train", "--frobnicate"], "unknown option --frobnicate; see 'ember train --help' for the options"),
        (["train", "mnist"], "ember train: unexpected argument 'mnist'; see 'ember train --help'"),
        (
            ["eval", ".", "--batchsize", "10"],
            "ember eval: unknown option --batchsize; did you mean --batch-size?",
        ),
        (["predict", ".", HERE, "--topk", "2"], "unknown option --topk; did you mean --top-k?"),
        (["summary", "vgg16", "--inputs", "3x32x32"], "unknown option --inputs; did you mean --input?"),
        (["demo", "--step", "5"], None),  # an unambiguous prefix of --steps: argparse accepts it
    ],
)
def test_an_unknown_option_shows_the_commands_usage_and_the_closest_option(capsys, argv, message):
    status, _, err = ember_cli(capsys, *argv)
    if message is None:
        assert status == 0
        return
    assert status == 2
    usage, text = err.rstrip("\n").rsplit("\n", 1)
    assert usage.startswith(f"usage: ember {argv[0]} ")  # the subcommand's usage, not the top level's
    assert message in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--steps", "0"], "ember demo: argument --steps: must be a whole number >= 1, got 0"),
        (["demo", "--steps", "-5"], "argument --steps: must be a whole number >= 1, got -5"),
        (["demo", "--steps", "many"], "argument --steps: must be a whole number >= 1, got 'many'"),
        (
            ["eval", ".", "--batch-size", "0"],
            "ember eval: argument --batch-size: must be a whole number >= 1",
        ),
        (["predict", ".", HERE, "--top-k", "0"], "argument --top-k: must be a whole number >= 1, got 0"),
        (["resume", ".", "--epochs", "-1"], "ember resume: argument --epochs: must be a whole number >= 1"),
        (["summary", "resnet20", "--batch-size", "0"], "argument --batch-size: must be a whole number >= 1"),
        (["summary", "resnet20", "--num-classes", "0"], "must be a whole number from 1 to 100,000, got 0"),
        (["summary", "resnet20", "--num-classes", "10000000000"], "from 1 to 100,000, got 10000000000"),
        (
            ["summary", "vgg16", "--input", "3by224"],
            "argument --input: expected positive sizes joined by 'x'",
        ),
        (["summary", "vgg16", "--input", "3x0x224"], "C x H x W such as 3x224x224, got '3x0x224'"),
        (["eval"], "ember eval: the following arguments are required: CHECKPOINT"),
    ],
)
def test_a_bad_value_names_the_argument_and_what_it_takes(capsys, argv, message):
    status, _, err = ember_cli(capsys, *argv)
    assert status == 2 and message in err
    assert err.startswith(f"usage: ember {argv[0]}")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["summary", "vgg16", "--input", "224x224"], "an input size is C x H x W, three positive sizes"),
        (["summary", "lenet5", "--input", "1x28x28"], "lenet5 takes 32x32 inputs, not 1x28x28; use 1x32x32"),
        (["summary", "vgg16", "--input", "3x16x16"], "vgg16 takes inputs of at least 32x32, not 3x16x16"),
        (["summary", "vgg61"], "unknown model 'vgg61' (did you mean vgg19, vgg16"),
    ],
)
def test_summary_says_what_input_the_model_takes(capsys, argv, message):
    status, out, err = ember_cli(capsys, *argv)
    assert status == 2 and out == "" and err.startswith("ember summary: ") and message in err


def test_summary_refuses_an_input_this_machine_cannot_hold(capsys, monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 2 * 10**9)
    status, out, err = ember_cli(capsys, "summary", "resnet20", "--input", "3x4000x4000")
    assert status == 2 and out == ""
    assert "ember summary: the summary of resnet20 on 3x4000x4000 inputs needs about" in err
    assert (
        "this machine has 2.0 GB available" in err
        and "Use a smaller --input (its native size is 3x32x32)" in err
    )
    status, _, err = ember_cli(capsys, "summary", "resnet20", "--batch-size", "100000")
    assert status == 2 and "Use a smaller --batch-size" in err


def test_demo_takes_any_number_of_steps(capsys):
    status, out, _ = ember_cli(capsys, "demo", "--steps", "5")
    assert status == 0 and [line.split()[1] for line in out.splitlines()[1:]] == [
        "0",
        "1",
        "2",
        "3",
        "4",
        "5",
    ]
    status, out, _ = ember_cli(capsys, "demo", "--steps", "1")
    assert status == 0 and len(out.splitlines()) == 3  # the banner, step 0 and step 1
    with pytest.raises(ValueError, match="steps must be at least 1, got 0"):
        ember.cli.demo.run(steps=0)


def test_train_refuses_a_configuration_that_cannot_fit_before_making_its_directory(
    mnist_root, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(memory, "available_memory", lambda: 10**9)
    argv = model_args(mnist_root, tmp_path, "resnet20", "--batch-size", "1000")
    status, _, err = ember_cli(capsys, *argv)
    assert status == 2 and not (tmp_path / "run").exists()
    assert err.startswith("ember train: resnet20 on 1x28x28 inputs, batch size 1000, needs about ")
    assert "but this machine has 1.0 GB available: it would be killed. Use --batch-size " in err
    assert "or less, or a smaller model." in err


def test_train_warns_when_the_estimate_is_close_to_the_available_memory(
    mnist_root, tmp_path, capsys, monkeypatch
):
    argv = train_args(mnist_root, tmp_path, "--epochs", "1", "--no-report")
    _, commands = build_parser()
    config = ember.cli.train.configuration(commands["train"].parse_args(argv[1:]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # this machine may be close already
        needed = memory.check_training(config).total
    monkeypatch.setattr(memory, "available_memory", lambda: int(needed / 0.8))
    status, _, err = ember_cli(capsys, *argv)
    assert status == 0
    assert "ember train: warning: mlp on 1x28x28 inputs, batch size 100, needs about" in err
    assert "it may not fit (the estimate can be 40% low)" in err


def test_the_banner_says_the_images_were_padded_for_lenet5(mnist_root, tmp_path, capsys):
    argv = model_args(mnist_root, tmp_path, "lenet5", "--epochs", "1", "--no-report")
    status, out, _ = ember_cli(capsys, *argv)
    assert status == 0
    assert (
        "model: lenet5, 61,706 parameters, input 1x32x32 (the data set's 28x28 images zero-padded to "
        "32x32: lenet5 takes 32x32 inputs)" in out
    )


def test_a_download_without_a_network_is_one_message(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/"])  # the discard port: refused
    empty = tmp_path / "data"
    empty.mkdir()
    argv = ["train", "--dataset", "mnist", "--data-root", str(empty), "--download", "--output", str(tmp_path)]
    status, _, err = ember_cli(capsys, *argv)
    assert status == 1
    assert err.startswith("ember train: could not download train-images-idx3-ubyte.gz; tried:\n")
    assert "127.0.0.1:9" in err


def test_every_option_has_help_and_a_placeholder_that_says_what_it_takes():
    _, commands = build_parser()
    assert set(commands) == set(COMMANDS)
    for name, command in commands.items():
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"ember {name} {action.option_strings or action.dest}: no help text"
    metavars = {action.option_strings[0]: action.metavar for action in commands["train"]._actions[1:]}
    assert metavars["--checkpoint-every"] == "STEPS" and metavars["--weight-decay"] == "X"
    assert metavars["--val-size"] == metavars["--test-subset"] == metavars["--batch-size"] == "N"
    assert {action.metavar for action in commands["train"]._actions} >= {"NAME", "DIR", "X", "N"}


def test_warmup_as_long_as_the_run_is_refused(mnist_root, tmp_path, capsys):
    argv = train_args(mnist_root, tmp_path, "--warmup-epochs", "2")
    status, _, err = ember_cli(capsys, *argv)
    assert status == 2 and not Path(tmp_path / "run").exists()
    assert "schedule.warmup_epochs: 2 warm-up epochs leave none of the run's 2 to the cosine schedule" in err


def test_eval_and_predict_refuse_batches_this_machine_cannot_hold(
    finished_run, tmp_path, capsys, monkeypatch
):
    from PIL import Image

    monkeypatch.setattr(memory, "available_memory", lambda: 10**8)  # 0.1 GB: less than the libraries
    status, out, err = ember_cli(capsys, "eval", str(finished_run), "--batch-size", "1000")
    assert status == 2 and out == ""
    assert err.startswith("ember eval: mlp on batches of 300 images of 1x28x28 needs about 0.2 GB, but this")
    assert err.endswith("it would be killed. Use a smaller --batch-size.\n")
    Image.new("L", (28, 28)).save(tmp_path / "digit.png")
    status, out, err = ember_cli(capsys, "predict", str(finished_run), str(tmp_path / "digit.png"))
    assert status == 2 and out == "" and err.endswith("Predict on fewer images at a time.\n")


def test_resume_refuses_a_run_this_machine_cannot_hold(finished_run, tmp_path, capsys, monkeypatch):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(finished_run, run)
    monkeypatch.setattr(memory, "available_memory", lambda: 10**8)
    status, _, err = ember_cli(capsys, "resume", str(run), "--epochs", "3")
    assert status == 2 and "ember resume: mlp on 1x28x28 inputs, batch size 100, needs about" in err
    assert "it would be killed" in err
