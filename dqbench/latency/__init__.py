"""The latency harness: times lowered integer programs against their FP32, INT32 and PyG controls, side by side.
The engine lowers and runs programs; this package measures them."""
