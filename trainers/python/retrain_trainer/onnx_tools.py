"""Brings converted graphs to the contract's names: input `features` [n, F] float32, one named output."""

from __future__ import annotations

import onnx
from onnx import helper

OUTPUT_NAMES = {"forecast": "value", "regress": "value", "classify": "probabilities", "cluster": "cluster"}


def contract_output(task: str) -> str:
    return OUTPUT_NAMES[task]


def keep_output(model: onnx.ModelProto, source: str, task: str) -> onnx.ModelProto:
    """The graph with only output `source`, renamed to the task's contract name (and [n, 1] for a value)."""
    target = contract_output(task)
    graph = model.graph
    outputs = [o for o in graph.output if o.name == source]
    if not outputs:
        raise ValueError(f"graph has no output {source}; it has {[o.name for o in graph.output]}")
    out = outputs[0]
    del graph.output[:]
    rank = len(out.type.tensor_type.shape.dim)
    if target == "value" and rank == 1:
        # Some converters answer [n]; the contract says [n, 1].
        shape = helper.make_tensor(f"{target}_shape", onnx.TensorProto.INT64, [2], [-1, 1])
        graph.initializer.append(shape)
        graph.node.append(helper.make_node("Reshape", [source, shape.name], [target]))
        graph.output.append(helper.make_tensor_value_info(target, out.type.tensor_type.elem_type, [None, 1]))
        return model
    if source != target:
        for node in graph.node:
            node.output[:] = [target if name == source else name for name in node.output]
            node.input[:] = [target if name == source else name for name in node.input]
        out.name = target
    graph.output.append(out)
    return model


def output_of(model: onnx.ModelProto, index: int) -> str:
    return model.graph.output[index].name


def name_input(model: onnx.ModelProto) -> onnx.ModelProto:
    """The graph with its one input named `features` (a user's graph may call it anything)."""
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise ValueError(f"the graph must take one input, [n, F] float32; it takes {[i.name for i in inputs]}")
    source = inputs[0].name
    if source != "features":
        for node in model.graph.node:
            node.input[:] = ["features" if name == source else name for name in node.input]
        inputs[0].name = "features"
    return model
