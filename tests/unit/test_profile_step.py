"""tools/profile_step.py's reading of a compiled program: the sizes of arrays and the work of dots, which
docs/bench.md's profile of the Flax step is generated from."""
import jax
import jax.numpy as jnp

from tools import profile_step as profile


def test_array_bytes_counts_every_array_of_a_shape():
    assert profile.array_bytes("f32[2,3]{1,0}") == 24
    assert profile.array_bytes("(f32[2,3]{1,0}, s32[4]{0}, pred[5]{0})") == 24 + 16 + 5
    assert profile.array_bytes("f32[]") == 4


def test_dot_flops_of_a_compiled_matmul_and_a_batched_one():
    a, b = jnp.ones((8, 4)), jnp.ones((4, 3))
    text = jax.jit(jnp.matmul).lower(a, b).compile().as_text()
    assert profile.dot_flops(text) == 2 * 8 * 3 * 4
    q, k = jnp.ones((5, 8, 4)), jnp.ones((5, 6, 4))
    text = jax.jit(lambda q, k: jnp.einsum("bqd,bkd->bqk", q, k)).lower(q, k).compile().as_text()
    assert profile.dot_flops(text) == 2 * 5 * 8 * 6 * 4


def test_a_dot_of_its_own_reads_its_operands_shapes_from_the_program():
    line = "  %dot.1 = f32[8,3]{1,0} dot(%p0, %p1), lhs_contracting_dims={1}, rhs_contracting_dims={0}"
    assert profile.dot_flops(line, {"p0": "f32[8,4]{1,0}", "p1": "f32[4,3]{1,0}"}) == 2 * 8 * 3 * 4


def test_tuple_shapes_and_xla_comments_are_read():
    hlo = ("ENTRY %main () -> f32[2] {\n  %f = (f32[2]{0}, f32[3]{0}) fusion(%a, %b), kind=kLoop, calls=%c\n"
           "  %t = (f32[1]{0}, /*index=1*/f32[4]{0}) tuple(%x, %y)\n}\n")
    shapes, opcodes, fusions, _ = profile.parse(hlo)
    assert fusions["f"][1] == "c" and fusions["f"][2] == ["a", "b"]
    assert profile.array_bytes(fusions["f"][0]) == 20 and profile.array_bytes(shapes["t"]) == 20
    assert opcodes["t"] == "tuple"


def test_a_kernel_is_classed_by_what_xla_put_in_it():
    assert profile.kind_of("  %d = f32[2,2]{1,0} dot(%a, %b), lhs_contracting_dims={1}") == "matmul"
    assert profile.kind_of("  %t = f32[3,2]{1,0} transpose(%a), dimensions={1,0}") == "with a transpose, or a copy"
    assert profile.kind_of("  %c = f32[3,2]{0,1} copy(%a)") == "with a transpose, or a copy"
    assert profile.kind_of("  %r = f32[2]{0} reduce(%a, %z), dimensions={1}") == "reduction"
    assert profile.kind_of("  %m = f32[2]{0} multiply(%a, %b)") == "elementwise and other"
