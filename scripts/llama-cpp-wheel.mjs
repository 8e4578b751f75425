// llama-cpp-python (the GGUF tests' llama.cpp) has no CPU wheel on PyPI for every platform: it builds
// from source, which takes many minutes on 2 cores. The built wheel is cached per version under
// ~/.cache/tuneboard/wheels (TUNEBOARD_WHEEL_CACHE overrides), so only the first set-up builds it;
// pip then installs the pinned version from that folder (--find-links).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PYTHON, log, run } from "./lib.mjs";
import { pythonDependencies } from "./python-deps.mjs";

// CPU only, generic x86-64 with AVX2 (no -march=native that would break on another CPU), no tools,
// examples, tests, server or multimodal library: the Python bindings need libllama and ggml alone.
const CMAKE_ARGS = [
  "-DGGML_NATIVE=OFF", "-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON", "-DGGML_OPENMP=OFF",
  "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_TOOLS=OFF", "-DLLAMA_BUILD_SERVER=OFF",
  "-DLLAVA_BUILD=OFF",
].join(" ");

/** The pinned version in pyproject.toml's test extra, or null when it names none. */
function pinnedVersion() {
  const pin = pythonDependencies({ test: true }).find((r) => r.startsWith("llama-cpp-python=="));
  return pin ? pin.slice("llama-cpp-python==".length) : null;
}

/** The folder holding the built wheel of the pinned version (built now when absent), or null. */
export function llamaCppWheelDir() {
  const version = pinnedVersion();
  if (!version) return null;
  const root = process.env.TUNEBOARD_WHEEL_CACHE ?? path.join(os.homedir(), ".cache", "tuneboard", "wheels");
  const dir = path.join(root, `llama-cpp-python-${version}`);
  if (fs.existsSync(dir) && fs.readdirSync(dir).some((f) => f.endsWith(".whl"))) return dir;
  log(`building llama-cpp-python ${version} from source (CPU; cached in ${dir})…`);
  const tmp = `${dir}.partial`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  run(PYTHON, ["-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps", "--no-binary", "llama-cpp-python",
    "-w", tmp, `llama-cpp-python==${version}`], {
    env: { CMAKE_ARGS, CMAKE_BUILD_PARALLEL_LEVEL: String(Math.max(1, os.cpus().length)) },
  });
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir); // the cache only ever holds a finished wheel
  return dir;
}
