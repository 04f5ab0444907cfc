"""Compile every Triton kernel variant sigmax launches for an H100/H200 (sm_90), without a GPU.

Run by tests/test_triton_compile.py in a subprocess (the kernels must be real
``JITFunction`` objects, so ``TRITON_INTERPRET`` must be unset).  Triton
compiles to PTX and ``ptxas`` (bundled with triton) assembles it; ``ptxas -v``
reports the registers and spills of each kernel.  Prints one line a variant,
``name regs spill_bytes shared_bytes``, and exits non-zero on a failure.

    python tests/triton_compile_sm90.py [--quick | --smoke]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

# Nothing happens at import (pytest's doctest collection imports this file in the test
# process, where TRITON_INTERPRET must stay as the interpreter tests set it): the
# environment is set and triton imported by main() only.


def _setup():
    if "triton" in sys.modules and os.environ.get("TRITON_INTERPRET") == "1":
        raise RuntimeError("run this script in its own process, without TRITON_INTERPRET")
    os.environ.pop("TRITON_INTERPRET", None)
    os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
    global triton, GPUTarget, ASTSource, TARGET, PTXAS
    global _cross_entropy, _elementwise, _linear_ce, _softmax
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from sigmax._triton import _cross_entropy, _elementwise, _linear_ce, _softmax
    TARGET = GPUTarget("cuda", 90, 32)
    # the bundled ptxas that reads Triton 3.9's PTX 9.4
    PTXAS = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin",
                         "ptxas-blackwell")


def _sig(args, types, consts):
    sig = {a: types.get(a, "i32") for a in args}
    for c in consts:
        sig[c] = "constexpr"
    return sig


def variants(quick=False):
    """``(label, JITFunction, signature, constexprs, num_warps)`` of every launch."""
    out = []
    dtypes = ["fp32", "bf16"] if quick else ["fp32", "bf16", "fp16"]
    blocks = [(1024, True, 4), (_softmax.MAX_SINGLE, True, 32), (_softmax.LOOP_BLOCK, False, 8)]
    if not quick:
        blocks.insert(1, (16384, True, 8))
    for dt in dtypes:
        for blk, single, warps in blocks:
            for mode in (0, 1, 2):
                out.append((f"softmax.forward[{dt},mode={mode},BLOCK={blk}]",
                            _softmax._forward_kernel,
                            _sig(["x_ptr", "y_ptr", "lse_ptr", "n", "stride_x", "stride_y"],
                                 {"x_ptr": f"*{dt}", "y_ptr": f"*{dt}", "lse_ptr": "*fp32"},
                                 ["MODE", "BLOCK", "SINGLE"]),
                            {"MODE": mode, "BLOCK": blk, "SINGLE": single}, warps))
                out.append((f"softmax.product[{dt},mode={mode},BLOCK={blk}]",
                            _softmax._product_kernel,
                            _sig(["y_ptr", "t_ptr", "lse_ptr", "out_ptr", "n", "stride_y",
                                  "stride_t", "stride_o"],
                                 {"y_ptr": "*fp32", "t_ptr": f"*{dt}", "lse_ptr": "*fp32",
                                  "out_ptr": f"*{dt}"}, ["MODE", "BLOCK", "SINGLE"]),
                            {"MODE": mode, "BLOCK": blk, "SINGLE": single}, warps))
            for smooth in (False, True):
                out.append((f"cross_entropy[{dt},BLOCK={blk},smooth={smooth}]",
                            _cross_entropy._ce_kernel,
                            _sig(["x_ptr", "t_ptr", "loss_ptr", "grad_ptr", "scale_ptr", "n",
                                  "stride_x", "stride_g", "ignore_index", "eps"],
                                 {"x_ptr": f"*{dt}", "t_ptr": "*i64", "loss_ptr": "*fp32",
                                  "grad_ptr": f"*{dt}", "scale_ptr": "*fp32",
                                  "ignore_index": "i64", "eps": "fp32"},
                                 ["HAS_IGNORE", "SMOOTH", "WRITE_GRAD", "BLOCK", "SINGLE"]),
                            {"HAS_IGNORE": True, "SMOOTH": smooth, "WRITE_GRAD": True,
                             "BLOCK": blk, "SINGLE": single}, warps))
        blk = _softmax.LOOP_BLOCK
        out.append((f"softmax.partial[{dt}]", _softmax._partial_kernel,
                    _sig(["x_ptr", "state_ptr", "n", "stride_x", "span", "rows", "S"],
                         {"x_ptr": f"*{dt}", "state_ptr": "*fp32"}, ["BLOCK"]),
                    {"BLOCK": blk}, 8))
        for mode in (0, 1):
            out.append((f"softmax.write[{dt},mode={mode}]", _softmax._write_kernel,
                        _sig(["x_ptr", "y_ptr", "stat_ptr", "n", "stride_x", "stride_y", "span",
                              "rows"], {"x_ptr": f"*{dt}", "y_ptr": f"*{dt}",
                                        "stat_ptr": "*fp32"}, ["MODE", "BLOCK"]),
                        {"MODE": mode, "BLOCK": blk}, 8))
        out.append((f"cross_entropy.grad_split[{dt}]", _cross_entropy._grad_split_kernel,
                    _sig(["x_ptr", "t_ptr", "stat_ptr", "scale_ptr", "grad_ptr", "n", "rows",
                          "stride_x", "stride_g", "span", "ignore_index", "eps"],
                         {"x_ptr": f"*{dt}", "t_ptr": "*i64", "stat_ptr": "*fp32",
                          "scale_ptr": "*fp32", "grad_ptr": f"*{dt}", "ignore_index": "i64",
                          "eps": "fp32"}, ["HAS_IGNORE", "BLOCK"]),
                    {"HAS_IGNORE": True, "BLOCK": blk}, 8))
        for op in _elementwise.OPS.values():
            for what in (0, 1, 2):
                out.append((f"elementwise[{dt},op={op},what={what}]",
                            _elementwise._elementwise_kernel,
                            _sig(["x_ptr", "t_ptr", "out_ptr", "n"],
                                 {"x_ptr": f"*{dt}", "t_ptr": f"*{dt}", "out_ptr": f"*{dt}"},
                                 ["OP", "WHAT", "BLOCK"]),
                            {"OP": op, "WHAT": what, "BLOCK": _elementwise.BLOCK}, 8))
        configs = _linear_ce._CONFIGS[:1] if quick else _linear_ce._CONFIGS
        for cfg in configs:
            tiles = dict(cfg.kwargs)
            name = ",".join(f"{k}={v}" for k, v in tiles.items())
            common = {"HAS_BIAS": True, "IEEE": dt == "fp32", "UPCAST": False, **tiles}
            out.append((f"linear_ce.forward[{dt},{name},w={cfg.num_warps}]",
                        _linear_ce._forward_kernel,
                        _sig(["h_ptr", "w_ptr", "b_ptr", "t_ptr", "state_ptr", "N", "V", "H",
                              "stride_h", "stride_w", "per_split"],
                             {"h_ptr": f"*{dt}", "w_ptr": f"*{dt}", "b_ptr": f"*{dt}",
                              "t_ptr": "*i64", "state_ptr": "*fp32"}, list(common)),
                        common, (cfg.num_warps, cfg.num_stages)))
            out.append((f"linear_ce.grad[{dt},{name},w={cfg.num_warps}]",
                        _linear_ce._grad_kernel,
                        _sig(["h_ptr", "w_ptr", "b_ptr", "t_ptr", "lse_ptr", "scale_ptr",
                              "g_ptr", "N", "V", "H", "v0", "chunk", "stride_h", "stride_w",
                              "stride_g", "eps"],
                             {"h_ptr": f"*{dt}", "w_ptr": f"*{dt}", "b_ptr": f"*{dt}",
                              "t_ptr": "*i64", "lse_ptr": "*fp32", "scale_ptr": "*fp32",
                              "g_ptr": f"*{dt}", "eps": "fp32"}, list(common)),
                        common, (cfg.num_warps, cfg.num_stages)))
    return out


def _ptxas_stats(ptx):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "k.ptx")
        with open(path, "w") as f:
            f.write(ptx)
        r = subprocess.run([PTXAS, "-v", "--gpu-name", "sm_90a", path, "-o",
                            os.path.join(d, "k.cubin")], capture_output=True, text=True)
    text = r.stdout + r.stderr
    regs = re.search(r"Used (\d+) registers", text)
    spill = re.search(r"(\d+) bytes spill stores", text)
    return (int(regs.group(1)) if regs else -1), (int(spill.group(1)) if spill else -1)


SMOKE = ["softmax.forward[bf16,mode=1,BLOCK=32768]", "softmax.product[bf16,mode=0,BLOCK=8192]",
         "softmax.partial[bf16]", "cross_entropy[bf16,BLOCK=8192,smooth=True]",
         "elementwise[bf16,op=3,what=2]", "linear_ce.forward[bf16,BN=128,BV=128,BH=32,w=8]",
         "linear_ce.grad[bf16,BN=128,BV=128,BH=32,w=8]"]


def main(argv):
    _setup()
    quick = "--quick" in argv or "--smoke" in argv
    chosen = variants(quick)
    if "--smoke" in argv:
        chosen = [v for v in chosen if v[0] in SMOKE]
        assert len(chosen) == len(SMOKE), [v[0] for v in chosen]
    failures = 0
    for label, fn, sig, consts, warps in chosen:
        stages = None
        if isinstance(warps, tuple):
            warps, stages = warps
        options = {"num_warps": warps}
        if stages is not None:
            options["num_stages"] = stages
        try:
            k = triton.compile(ASTSource(fn=fn, signature=sig, constexprs=consts),
                               target=TARGET, options=options)
            regs, spill = _ptxas_stats(k.asm["ptx"])
            print(f"{label} regs={regs} spill={spill} shared={k.metadata.shared}", flush=True)
        except Exception as exc:  # report every failing variant, then fail
            failures += 1
            print(f"FAILED {label}: {type(exc).__name__}: {str(exc)[:400]}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
