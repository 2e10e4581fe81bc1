"""Package-to-package link presets for prefill/decode disaggregation (``llmimc serve --package-link``).

Bandwidths are per direction, from the standards' signalling rates; energies and latencies of
off-package links vary widely with reach and implementation, so they carry an ``[assumption]`` tag
with the reasoning. A spec may carry its own ``package_link`` section instead.

- UCIe-S: UCIe 1.x standard package module, x16 lanes at 32 GT/s = 64 GB/s per direction,
  0.6 pJ/bit above 16 GT/s, <= 2 ns (UCIe 1.0 KPI table as quoted by Das Sharma et al., Hot
  Interconnects 2025, Table 1; shared/hw_reference.md). Packages side by side on one substrate.
- PCIe 5.0 x16: 32 GT/s x 16 lanes x 128/130 / 8 = 63.0 GB/s per direction (PCI-SIG PCIe Base 5.0).
- CXL 2.0 x16: the PCIe 5.0 PHY (CXL 2.0 specification), 63.0 GB/s per direction.
- 400GbE: 400 Gb/s = 50 GB/s per direction (IEEE 802.3bs), with RDMA NICs and one switch.
"""

from __future__ import annotations

from llmimc.hw.spec import PackageLink

_SERDES = "[assumption] long-reach 32 Gb/s SerDes with retimer-free channel: ~5 pJ/bit (1.4-1.9 pJ/bit short-reach I/O, IBM 32 nm ISSCC; PCIe adds PHY/PCS/controller)"

PACKAGE_LINKS: dict[str, PackageLink] = {
    "ucie-s": PackageLink(
        name="UCIe-S (standard package, x16 @ 32 GT/s)",
        bw_bytes_per_s=64e9,
        latency_s=2e-9,
        energy_per_bit_j=0.6e-12,
        sources={
            "bw_bytes_per_s": "UCIe 1.0 standard package: 16 lanes x 32 GT/s / 8 [standard, via Das Sharma et al. HotI 2025 Table 1]",
            "latency_s": "UCIe 1.0 KPI target <= 2 ns [standard, via Das Sharma et al. HotI 2025 Table 1]",
            "energy_per_bit_j": "UCIe 1.0 standard package 0.6 pJ/bit above 16 GT/s [standard, via Das Sharma et al. HotI 2025 Table 1]",
        },
    ),
    "pcie5": PackageLink(
        name="PCIe 5.0 x16",
        bw_bytes_per_s=32e9 * 16 * 128 / 130 / 8,
        latency_s=1e-6,
        energy_per_bit_j=5e-12,
        sources={
            "bw_bytes_per_s": "PCI-SIG PCIe Base 5.0: 32 GT/s per lane, 128b/130b, x16 [standard]",
            "latency_s": "[assumption] ~1 us for a DMA write of a KV block across a PCIe switch (doorbell, TLPs, completion)",
            "energy_per_bit_j": _SERDES,
        },
    ),
    "cxl2": PackageLink(
        name="CXL 2.0 x16",
        bw_bytes_per_s=32e9 * 16 * 128 / 130 / 8,
        latency_s=4e-7,
        energy_per_bit_j=5e-12,
        sources={
            "bw_bytes_per_s": "CXL 2.0 runs on the PCIe 5.0 PHY: 32 GT/s, 128b/130b, x16 [standard]",
            "latency_s": "[assumption] ~400 ns load-to-use across one CXL switch hop",
            "energy_per_bit_j": _SERDES,
        },
    ),
    "ethernet-400g": PackageLink(
        name="400GbE with RDMA",
        bw_bytes_per_s=400e9 / 8,
        latency_s=5e-6,
        energy_per_bit_j=15e-12,
        sources={
            "bw_bytes_per_s": "IEEE 802.3bs 400 Gb/s per direction [standard]",
            "latency_s": "[assumption] ~5 us RDMA write through two NICs and one switch",
            "energy_per_bit_j": "[assumption] ~15 pJ/bit NIC + switch + optics end to end",
        },
    ),
}


def package_link(name: str) -> PackageLink:
    """The preset called ``name`` (KeyError lists the choices)."""
    try:
        return PACKAGE_LINKS[name]
    except KeyError:
        raise KeyError(f"unknown package link {name!r}; use one of {', '.join(PACKAGE_LINKS)}") from None
