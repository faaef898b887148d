import torch
import torch.nn.functional as F

from model.classifier import build_model
from model.config import EdgeNetConfig, ModelConfig
from model.edgenet import EDGE_KERNELS, EdgeNet
from tests.model.helpers import SHRUNK, SIZE


def test_residual_at_init_is_exactly_the_backbone():
    torch.manual_seed(0)
    cfg = ModelConfig(backbone="deit", image_size=SIZE, backbone_kwargs=SHRUNK["deit"],
                      edgenet=EdgeNetConfig(mode="residual"))
    model = build_model(cfg, 4).eval()
    x = torch.randn(3, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.equal(model(x), model.head(model.backbone(x)))
        assert not torch.equal(model.edgenet.layers(x), torch.zeros_like(x))


def test_sobel_init_sets_edge_kernels_on_the_gray_mean():
    net = EdgeNet(EdgeNetConfig(mode="replace", widths=(8, 8), init="sobel"))
    weight = net.first_conv.weight
    for i, kernel in enumerate(EDGE_KERNELS):
        expected = torch.tensor(kernel).expand(3, 3, 3) / 3
        assert torch.allclose(weight[i], expected)
    gray_step = torch.zeros(1, 3, 8, 8)
    gray_step[..., 4:] = 1.0  # a vertical edge
    response = F.conv2d(gray_step, weight[:2]).detach()
    assert response[0, 0].abs().sum() > 1 and response[0, 1].abs().max() < 1e-5  # Sobel x sees it, Sobel y not


def test_random_init_is_not_sobel():
    net = EdgeNet(EdgeNetConfig(mode="replace", init="random"))
    assert not torch.allclose(net.first_conv.weight[0], torch.tensor(EDGE_KERNELS[0]).expand(3, 3, 3) / 3)


def test_output_matches_backbone_channels_and_size():
    net = EdgeNet(EdgeNetConfig(mode="replace", widths=(4, 6)), out_channels=3, out_size=32)
    out = net(torch.randn(2, 3, 48, 48))
    assert out.shape == (2, 3, 32, 32)
    assert [m.out_channels for m in net.layers if isinstance(m, torch.nn.Conv2d)] == [4, 6, 3]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.layers) == 2
