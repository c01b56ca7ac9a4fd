#!/usr/bin/env python3
"""simple.py: text from a prompt through libwkv's C API from Python, with ctypes only.

    python3 simple.py -m MODEL [-t TOKENIZER] [-p PROMPT] [-n TOKENS] [--cpu] [--lib PATH]

Greedy, through wkv_generate (the loop `wkv generate` runs): the same text as
`wkv generate --temp 0`. The text goes to stdout; errors to stderr, exit code 1.
--lib names libwkv.so.0 where the loader would not find it.
"""
import argparse
import ctypes
import sys


class ContextParams(ctypes.Structure):
    _fields_ = [("cpu", ctypes.c_int), ("device", ctypes.c_int32), ("n_sequences", ctypes.c_uint32),
                ("caches", ctypes.c_void_p)]


TEXT_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_char), ctypes.c_size_t, ctypes.c_void_p)


def load_library(path):
    lib = ctypes.CDLL(path)
    lib.wkv_last_error.restype = ctypes.c_char_p
    lib.wkv_version.restype = ctypes.c_char_p
    lib.wkv_model_load.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.wkv_model_free.argtypes = [ctypes.c_void_p]
    lib.wkv_context_params_default.restype = ContextParams
    lib.wkv_context_create.argtypes = [ctypes.c_void_p, ctypes.POINTER(ContextParams),
                                       ctypes.POINTER(ctypes.c_void_p)]
    lib.wkv_context_free.argtypes = [ctypes.c_void_p]
    lib.wkv_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int,
                                 ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]
    lib.wkv_generate.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t,
                                 ctypes.c_uint32, ctypes.c_float, ctypes.c_float, ctypes.c_uint64, ctypes.c_int,
                                 TEXT_CALLBACK, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32)]
    return lib


def main():
    parser = argparse.ArgumentParser(description="text from a prompt through libwkv")
    parser.add_argument("-m", dest="model", required=True)
    parser.add_argument("-t", dest="tokenizer")
    parser.add_argument("-p", dest="prompt", default="")
    parser.add_argument("-n", dest="n_predict", type=int, default=256)
    parser.add_argument("--cpu", action="store_true")
    parser.add_argument("--lib", default="libwkv.so.0")
    args = parser.parse_args()
    lib = load_library(args.lib)

    def check(status, what):
        if status != 0:
            sys.exit(f"simple.py: {what}: {lib.wkv_last_error().decode()}")

    model = ctypes.c_void_p()
    tokenizer = args.tokenizer.encode() if args.tokenizer else None
    check(lib.wkv_model_load(args.model.encode(), tokenizer, ctypes.byref(model)), "loading the model")
    params = lib.wkv_context_params_default()
    params.cpu = 1 if args.cpu else 0
    context = ctypes.c_void_p()
    check(lib.wkv_context_create(model, ctypes.byref(params), ctypes.byref(context)), "creating the context")

    prompt = args.prompt.encode()
    needed = ctypes.c_size_t()
    lib.wkv_tokenize(model, prompt, len(prompt), 1, None, 0, ctypes.byref(needed))
    tokens = (ctypes.c_int32 * max(needed.value, 1))()
    check(lib.wkv_tokenize(model, prompt, len(prompt), 1, tokens, needed.value, ctypes.byref(needed)), "tokenizing")

    def on_text(data, size, _user):
        sys.stdout.buffer.write(ctypes.string_at(data, size))
        sys.stdout.buffer.flush()
        return 1

    generated = ctypes.c_uint32()
    check(lib.wkv_generate(context, 0, tokens, needed.value, args.n_predict, 0.0, 1.0, 0, 0, TEXT_CALLBACK(on_text),
                           None, ctypes.byref(generated)), "generating")
    print(f"\nsimple.py: {generated.value} tokens, libwkv {lib.wkv_version().decode()}", file=sys.stderr)
    lib.wkv_context_free(context)
    lib.wkv_model_free(model)


if __name__ == "__main__":
    main()
