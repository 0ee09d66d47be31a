"""`netgen new`: the starter spec's content and the names it gives. A spec name in any case
becomes a CamelCase class, and the starter's batch-normed convolutions take no bias."""

from __future__ import annotations

import pytest

from netgen.backends.layout import make_layout
from netgen.compile import compile_file
from netgen.ir.names import class_name
from tests.conftest import netgen_cli


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("cifar10_gnet", "Cifar10Gnet"),
        ("googlenet", "Googlenet"),
        ("GoogLeNet", "GoogLeNet"),
        ("GoogLeNetCIFAR10", "GoogLeNetCIFAR10"),
        ("my_net_v2", "MyNetV2"),
        ("resnet_50", "Resnet50"),
        ("x", "X"),
        ("_private_net", "PrivateNet"),
        ("inception__v4", "InceptionV4"),
    ],
)
def test_the_network_class_is_camel_case_whatever_the_spec_name(write_spec, name, cls):
    assert class_name(name) == cls
    path = write_spec(f"name: {name}\ninput: [3, 8, 8]\nlayers:\n  conv: {{conv: {{out: 4, kernel: 1}}}}\n")
    spec, graph = compile_file(str(path))
    assert make_layout(spec, graph).network_class == cls


def test_the_starter_builds_a_camel_case_class_without_conv_biases_and_holds_its_claims(tmp_path):
    made = netgen_cli("new", "cifar10_gnet", "--out", "specs", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    text = (tmp_path / "specs" / "cifar10_gnet.yaml").read_text(encoding="utf-8")
    assert "  conv: {act: relu, bn: true, bias: false}" in text
    checked = netgen_cli("check", "specs/cifar10_gnet.yaml", cwd=tmp_path)
    assert checked.stdout == "specs/cifar10_gnet.yaml: ok (cifar10_gnet, output 1x1x10, 2 claims hold)\n"
    built = netgen_cli("build", "specs/cifar10_gnet.yaml", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    source = (tmp_path / "generated" / "cifar10_gnet.py").read_text(encoding="utf-8")
    assert "\nclass Cifar10Gnet(nn.Module):" in source and "class cifar10_gnet" not in source
    convs = [line for line in source.splitlines() if "nn.Conv2d(" in line]
    assert convs and all("bias=False" in line for line in convs)
