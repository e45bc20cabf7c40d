"""PyTorch kinds: an MLP over the feature row and an LSTM over [lookback, width]; Adam, a checkpoint each epoch."""

from __future__ import annotations

import io
import re
import time
import warnings
from typing import Any

import numpy as np
import onnx

from ..errors import invalid_input
from ..frame import Floats
from ..onnx_tools import contract_output
from ..params import Param
from .base import Kind, Session, Trained, check_classes
from .devices import cuda_visible

_LAG = re.compile(r"^(?P<base>.+)@t(?:-(?P<lag>\d+))?$")

_COMMON = {
    "batch_size": Param(int, 256, "Rows per Adam step.", min=1),
    "learning_rate": Param(float, 1e-3, "Adam's learning rate.", min=0.0),
    "weight_decay": Param(float, 0.0, "Adam's L2 penalty.", min=0.0),
    "dropout": Param(float, 0.0, "Dropout between layers.", min=0.0, max=0.95),
}


def sequence_layout(names: list[str]) -> tuple[list[int], list[int], int, int]:
    """Column indexes of the [lookback, width] grid (oldest step first) and of the unlagged columns.

    featureNames are `<feature>@t-<k>` (`@t` is lag 0); columns without a lag go with every step.
    """
    cells: dict[tuple[str, int], int] = {}
    bases: list[str] = []
    static: list[int] = []
    for index, name in enumerate(names):
        match = _LAG.match(name)
        if match is None:
            static.append(index)
            continue
        base, lag = match["base"], int(match["lag"] or 0)
        if (base, lag) in cells:
            raise invalid_input(f"lstm: feature {name} appears twice in featureNames", kind="lstm")
        cells[(base, lag)] = index
        if base not in bases:
            bases.append(base)
    if not cells:
        raise invalid_input("lstm needs lagged features (featureNames of the form <feature>@t-<k>)", kind="lstm")
    lags = sorted({lag for _, lag in cells}, reverse=True)
    order = []
    for lag in lags:
        for base in bases:
            if (base, lag) not in cells:
                raise invalid_input(f"lstm needs every feature at every lag: {base}@t-{lag} is missing", kind="lstm")
            order.append(cells[(base, lag)])
    return order, static, len(lags), len(bases)


def _torch_version() -> str:
    import torch

    return str(torch.__version__).split("+")[0]


class _TorchKind(Kind):
    tasks = ("forecast", "regress", "classify")

    def device(self, wants_cuda: bool) -> str:
        return "cuda" if wants_cuda and cuda_visible() else "cpu"

    def backend(self, session_device: str) -> str:
        return f"torch {_torch_version()} {session_device}"

    def body(self, session: Session, outputs: int) -> Any:
        raise NotImplementedError

    def train(self, session: Session) -> Trained:
        import torch

        task, p, frame = session.input.task, session.params, session.frame
        classify = task == "classify"
        outputs = check_classes(session) if classify else 1
        device = torch.device(session.device)
        torch.manual_seed(session.seed)
        assert frame.train.y is not None
        y_mean = 0.0 if classify else float(np.mean(frame.train.y))
        y_std = 1.0 if classify else float(np.std(frame.train.y)) or 1.0
        body = self.body(session, outputs).to(device)
        net = _Answer(body, classify, y_mean, y_std).to(device)
        optimizer = torch.optim.Adam(body.parameters(), lr=p["learning_rate"], weight_decay=p["weight_decay"])
        if session.resume is not None:
            saved = torch.load(io.BytesIO(session.resume.files["model.pt"]), map_location=device, weights_only=True)
            body.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            torch.set_rng_state(saved["rng"])
        x = torch.from_numpy(frame.train.x).to(device)
        target = torch.from_numpy(frame.train.y).to(device)
        y = target.long() if classify else ((target - y_mean) / y_std).float().unsqueeze(1)
        loss_fn: Any = torch.nn.CrossEntropyLoss() if classify else torch.nn.MSELoss()
        scale = 1.0 if classify else y_std * y_std
        n, size = len(x), int(p["batch_size"])
        batches = (n + size - 1) // size

        def snapshot() -> tuple[dict[str, bytes], dict[str, Any]]:
            buffer = io.BytesIO()
            state = {
                "model": body.state_dict(),
                "optimizer": optimizer.state_dict(),
                "rng": torch.get_rng_state(),
            }
            torch.save(state, buffer)
            return {"model.pt": buffer.getvalue()}, {}

        for epoch in range(session.start_epoch + 1, session.epochs + 1):
            started, total = time.monotonic(), 0.0
            body.train()
            order = torch.randperm(n, generator=torch.Generator().manual_seed(session.seed * 100_003 + epoch))
            for b in range(batches):
                index = order[b * size : (b + 1) * size].to(device)
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(body(x[index]), y[index])
                loss.backward()
                optimizer.step()
                total += float(loss.item()) * len(index)
                session.batch(b + 1, batches)
            rate = n / max(time.monotonic() - started, 1e-9)
            body.eval()
            val = self._val_loss(session, body, loss_fn, classify, y_mean, y_std, device)
            session.epoch_end(epoch, total / n * scale, None if val is None else val * scale, rate, snapshot)
        net.eval()
        return Trained(
            onnx=_export(net, frame.width, contract_output(task)), predict=lambda a: _predict(net, a, device)
        )

    @staticmethod
    def _val_loss(
        session: Session, body: Any, loss_fn: Any, classify: bool, y_mean: float, y_std: float, device: Any
    ) -> float | None:
        import torch

        holdout = session.frame.holdout
        if len(holdout.x) == 0 or holdout.y is None:
            return None
        with torch.no_grad():
            out = body(torch.from_numpy(holdout.x).to(device))
            target = torch.from_numpy(holdout.y).to(device)
            y = target.long() if classify else ((target - y_mean) / y_std).float().unsqueeze(1)
            return float(loss_fn(out, y).item())


class MlpKind(_TorchKind):
    name = "mlp"
    params = {**_COMMON, "hidden": Param(list, [64, 64], "Units of each hidden layer.", min=1, item=int)}

    def body(self, session: Session, outputs: int) -> Any:
        import torch

        layers: list[Any] = []
        width = session.frame.width
        for units in session.params["hidden"]:
            layers += [torch.nn.Linear(width, units), torch.nn.ReLU()]
            if session.params["dropout"] > 0:
                layers.append(torch.nn.Dropout(session.params["dropout"]))
            width = units
        layers.append(torch.nn.Linear(width, outputs))
        return torch.nn.Sequential(*layers)


class LstmKind(_TorchKind):
    name = "lstm"
    params = {
        **_COMMON,
        "hidden_size": Param(int, 32, "LSTM units.", min=1),
        "num_layers": Param(int, 1, "Stacked LSTM layers.", min=1, max=8),
    }

    def body(self, session: Session, outputs: int) -> Any:
        order, static, lookback, width = sequence_layout(session.frame.feature_names)
        return _lstm_body(order, static, lookback, width, session.params, outputs)


def _lstm_body(order: list[int], static: list[int], lookback: int, width: int, p: dict[str, Any], outputs: int) -> Any:
    import torch

    class LstmBody(torch.nn.Module):
        """Gathers the row into [lookback, width] (plus the unlagged columns at every step) inside the graph."""

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("seq_index", torch.tensor(order, dtype=torch.long))
            self.register_buffer("static_index", torch.tensor(static, dtype=torch.long))
            self.lstm = torch.nn.LSTM(
                width + len(static),
                p["hidden_size"],
                p["num_layers"],
                batch_first=True,
                dropout=p["dropout"] if p["num_layers"] > 1 else 0.0,
            )
            self.head = torch.nn.Linear(p["hidden_size"], outputs)

        def forward(self, x: Any) -> Any:
            seq = x.index_select(1, self.seq_index).reshape(-1, lookback, width)
            if static:
                fixed = x.index_select(1, self.static_index).unsqueeze(1).expand(-1, lookback, -1)
                seq = torch.cat([seq, fixed], dim=2)
            out, _ = self.lstm(seq)
            return self.head(out[:, -1, :])

    return LstmBody()


def _answer_module() -> Any:
    import torch

    class Answer(torch.nn.Module):
        """The exported model: probabilities for a classifier, the target's units for a regressor."""

        def __init__(self, body: Any, classify: bool, y_mean: float, y_std: float) -> None:
            super().__init__()
            self.body, self.classify, self.y_mean, self.y_std = body, classify, y_mean, y_std

        def forward(self, x: Any) -> Any:
            out = self.body(x)
            return torch.softmax(out, dim=1) if self.classify else out * self.y_std + self.y_mean

    return Answer


def _Answer(body: Any, classify: bool, y_mean: float, y_std: float) -> Any:
    return _answer_module()(body, classify, y_mean, y_std)


def _predict(net: Any, x: Floats, device: Any) -> np.ndarray:
    import torch

    with torch.no_grad():
        return np.asarray(net(torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(device)).cpu().numpy())


def _export(net: Any, width: int, output: str) -> onnx.ModelProto:
    """torch.onnx (the TorchScript exporter: it needs no onnxscript) from a CPU copy of the model."""
    import copy

    import torch

    cpu = copy.deepcopy(net).cpu().eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The legacy exporter's deprecation and the tracer's notes on LSTM shapes: the batch axis is dynamic.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            cpu,
            (torch.zeros(2, width),),
            buffer,  # type: ignore[arg-type]
            input_names=["features"],
            output_names=[output],
            dynamic_axes={"features": {0: "n"}, output: {0: "n"}},
            opset_version=17,
            dynamo=False,
        )
    return onnx.load_from_string(buffer.getvalue())
