"""The device memory rerankd's CUDA backend should plan for a model, computed from the checkpoint's
tensor list (make_test_models.tensor_shapes) and the layout docs/architecture.md describes, not from
the C++ code: the test compares kernels/cuda/cuda_plan.h's plan_memory with it.

Weights: the word table and the encoder's matrices in the compute precision; every bias float32,
and the encoder's again in the compute precision (the fused epilogues read it); LayerNorms, the
position and token-type tables and the classification head float32.

Workspace, for a pass of T tokens and S pairs, each matrix with 512 slack rows and every region
rounded up to 256 bytes: the residual stream [T, H] in float32 and the compute precision; one
region that holds qkv [T, 3H] + context [T, H] during attention and the intermediate [T, I] in the
feed-forward; first tokens and pooled [S, H] both forms; logits [S, labels] both forms; attention
scratch (one item of the longest bucket, or heads x T KiB within 8..64 MiB); cuBLASLt's 32 MiB; two
pass slots, each ids / positions / types (int32 per token row), seq_starts, 16 B per attention item
and six pointers per item, and the pass's logits in float32.
"""

ALIGN = 256
SLACK = 512
CUBLAS = 32 << 20


def up(n, a=ALIGN):
    return (n + a - 1) // a * a


def weight_bytes(tensors, narrow):
    """tensors: (name, shape) pairs as in the checkpoint."""
    total = 0
    for name, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        if name.startswith("classifier.") or "LayerNorm" in name or "position_embeddings" in name \
                or "token_type_embeddings" in name:
            total += 4 * n
        elif name.endswith("word_embeddings.weight") or name.endswith(".weight"):
            total += narrow * n
        else:  # an encoder bias
            total += n * (4 if narrow == 4 else 4 + narrow)
    return total


def padded(length):
    step = 64 if length <= 512 else 512
    return up(max(length, 1), step)


def workspace_bytes(H, I, heads, labels, tokens, pairs, max_length, narrow):
    tokens = max(tokens, max_length)
    pairs = min(pairs, tokens)
    T, S = tokens + SLACK, pairs + SLACK

    def matrix(rows, width, general):
        if narrow == 4:
            return up(rows * width * 4)
        return (up(rows * width * 4) if general else 0) + up(rows * width * narrow)

    activations = (matrix(T, H, True) + max(matrix(T, 3 * H, False) + matrix(T, H, False), matrix(T, I, False))
                   + 2 * matrix(S, H, True) + matrix(S, labels, True))
    keys = padded(max_length)
    queries = min(keys, 512)
    one_item = up(keys * queries * 4) + up(keys * queries * narrow) + up(queries * (H // heads) * narrow)
    scratch = max(one_item, min(max(tokens * heads * 1024, 8 << 20), 64 << 20))
    items = heads * (pairs + (tokens + 511) // 512)
    slot = 3 * up(T * 4) + up((S + 1) * 4) + up(items * 16) + up(items * 6 * 8) + up(S * labels * 4)
    return activations + scratch + CUBLAS + 2 * slot


def plan(tensors, H, I, heads, labels, tokens, pairs, max_length, narrow):
    w = weight_bytes(tensors, narrow)
    ws = workspace_bytes(H, I, heads, labels, tokens, pairs, max_length, narrow)
    return {"weight_bytes": w, "workspace_bytes": ws, "total_bytes": w + ws}
