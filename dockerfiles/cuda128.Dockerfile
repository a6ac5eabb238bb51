# Rendered by imagegate from profiles/cuda128.yaml and pylock.cuda128.toml; do not edit: change the
# profile, then run `imagegate lock cuda128` and `imagegate render cuda128`.
# Blackwell (sm_120) and older on CUDA 12.8: PyPI's torch 2.8.0 is the CUDA 12.8 build
# (nvidia-*-cu12 12.8 wheels); torchvision 0.23.0 is its pair. About 4 GB to download.
# Build with BuildKit from the project root: `imagegate build cuda128`.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE} AS stack
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INDEX=1 \
    PIP_CONFIG_FILE=/dev/null
RUN python3 -m venv /opt/venv
# The wheels are installed, their bytecode compiled as pip would, by imagegate's own uv,
# mounted for each step only (far faster); by pip where that uv cannot run.

# The protected packages (torch, torchvision) and their closure, in a layer of their own:
# a change to a lighter pin leaves it cached.
# Only the locked wheels, hashes required; bind-mounted, so no wheel stays in the image.
RUN \
    --mount=type=bind,source=wheelhouse/cuda128/protected,target=/wheels/protected \
    --mount=type=bind,source=.imagegate/installer,target=/opt/imagegate-installer \
    if /opt/imagegate-installer/uv --version >/dev/null 2>&1; then \
      /opt/imagegate-installer/uv pip install --python /opt/venv/bin/python --no-cache \
        --compile-bytecode --no-index --no-deps --require-hashes --only-binary=:all: \
        --find-links /wheels/protected -r /wheels/protected/requirements.txt; \
    else \
      pip install --no-index --no-deps --require-hashes --only-binary=:all: \
        --find-links /wheels/protected -r /wheels/protected/requirements.txt; \
    fi

# What the pins need and nothing pins: it changes less often than the pins.
# Only the locked wheels, hashes required; bind-mounted, so no wheel stays in the image.
RUN \
    --mount=type=bind,source=wheelhouse/cuda128/rest/certifi-2026.10.19.post1-py3-none-any.whl,target=/wheels/deps/certifi-2026.10.19.post1-py3-none-any.whl \
    --mount=type=bind,source=wheelhouse/cuda128/rest/charset_normalizer-3.5.2-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl,target=/wheels/deps/charset_normalizer-3.5.2-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl \
    --mount=type=bind,source=wheelhouse/cuda128/rest/hf_xet-1.8.0-cp38-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl,target=/wheels/deps/hf_xet-1.8.0-cp38-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl \
    --mount=type=bind,source=wheelhouse/cuda128/rest/huggingface_hub-0.36.2-py3-none-any.whl,target=/wheels/deps/huggingface_hub-0.36.2-py3-none-any.whl \
    --mount=type=bind,source=wheelhouse/cuda128/rest/idna-3.20-py3-none-any.whl,target=/wheels/deps/idna-3.20-py3-none-any.whl \
    --mount=type=bind,source=wheelhouse/cuda128/rest/packaging-26.3-py3-none-any.whl,target=/wheels/deps/packaging-26.3-py3-none-any.whl \
    --mount=type=bind,source=wheelhouse/cuda128/rest/psutil-7.2.2-cp36-abi3-manylinux2010_x86_64.manylinux_2_12_x86_64.manylinux_2_28_x86_64.whl,target=/wheels/deps/psutil-7.2.2-cp36-abi3-manylinux2010_x86_64.manylinux_2_12_x86_64.manylinux_2_28_x86_64.whl \
    --mount=type=bind,source=wheelhouse/cuda128/rest/pyyaml-6.0.4-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl,target=/wheels/deps/pyyaml-6.0.4-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl \
    --mount=type=bind,source=wheelhouse/cuda128/rest/regex-2026.11.19-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl,target=/wheels/deps/regex-2026.11.19-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl \
    --mount=type=bind,source=wheelhouse/cuda128/rest/requests-2.34.2-py3-none-any.whl,target=/wheels/deps/requests-2.34.2-py3-none-any.whl \
    --mount=type=bind,source=wheelhouse/cuda128/rest/safetensors-0.8.0-cp310-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl,target=/wheels/deps/safetensors-0.8.0-cp310-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl \
    --mount=type=bind,source=wheelhouse/cuda128/rest/tokenizers-0.21.4-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl,target=/wheels/deps/tokenizers-0.21.4-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl \
    --mount=type=bind,source=wheelhouse/cuda128/rest/tqdm-4.70.1-py3-none-any.whl,target=/wheels/deps/tqdm-4.70.1-py3-none-any.whl \
    --mount=type=bind,source=wheelhouse/cuda128/rest/urllib3-2.8.0-py3-none-any.whl,target=/wheels/deps/urllib3-2.8.0-py3-none-any.whl \
    --mount=type=bind,source=.imagegate/installer,target=/opt/imagegate-installer \
    printf '%s\n' \
      'certifi==2026.10.19.post1 --hash=sha256:1324c476b4811eff41a8bc2122cd0bbd4d9c7234c725446d99ab1612b3a7fdd2' \
      'charset-normalizer==3.5.2 --hash=sha256:211d5a3eb6af8f513b8d4ca19a8c1b7accab1b5f0d3175f9826b03c1a920dc1f' \
      'hf-xet==1.8.0 --hash=sha256:29dab7c904cd1914a0439c6e1306c12c7497c8bd32290fbe563ebf51ca4b6d6d' \
      'huggingface-hub==0.36.2 --hash=sha256:48f0c8eac16145dfce371e9d2d7772854a4f591bcb56c9cf548accf531d54270' \
      'idna==3.20 --hash=sha256:ab7ae7122974553370f0bdb919e1a960b2cd1bc1ef0276416d896db81c14582c' \
      'packaging==26.3 --hash=sha256:d7193f7c8e4e93f444fde0262bf90af30e16fa0ad0ad44cb553c87339b23cd1c' \
      'psutil==7.2.2 --hash=sha256:076a2d2f923fd4821644f5ba89f059523da90dc9014e85f8e45a5774ca5bc6f9' \
      'pyyaml==6.0.4 --hash=sha256:622aa875fa6533f25fedcffe23079357d65a690d462200afed5d8e9d0e01ebee' \
      'regex==2026.11.19 --hash=sha256:86d3b2ea69b3c56df3e8ddbac6cd98eaf5a8c5b5e7e006897ebdf7a28d6818e6' \
      'requests==2.34.2 --hash=sha256:2a0d60c172f83ac6ab31e4554906c0f3b3588d37b5cb939b1c061f4907e278e0' \
      'safetensors==0.8.0 --hash=sha256:fd6f3f93c9a0a7cc2788ee63fb763353d4bd2e89b0751bc78fcf7dda00bea774' \
      'tokenizers==0.21.4 --hash=sha256:51b7eabb104f46c1c50b486520555715457ae833d5aee9ff6ae853d1130506ff' \
      'tqdm==4.70.1 --hash=sha256:c293e525e6fef9c20e8728fd4612df02a0aa31bb5fe91ecd93e123b1b7bffa73' \
      'urllib3==2.8.0 --hash=sha256:0cf3cae568d36aa9576b28dfb35f11328f1cb974ca7647d9475ebb86c75ac6e3' \
      > /tmp/imagegate-requirements.txt && \
    if /opt/imagegate-installer/uv --version >/dev/null 2>&1; then \
      /opt/imagegate-installer/uv pip install --python /opt/venv/bin/python --no-cache \
        --compile-bytecode --no-index --no-deps --require-hashes --only-binary=:all: \
        --find-links /wheels/deps -r /tmp/imagegate-requirements.txt; \
    else \
      pip install --no-index --no-deps --require-hashes --only-binary=:all: \
        --find-links /wheels/deps -r /tmp/imagegate-requirements.txt; \
    fi && rm /tmp/imagegate-requirements.txt

# The pin transformers, in a step of its own.
# Only the locked wheels, hashes required; bind-mounted, so no wheel stays in the image.
RUN \
    --mount=type=bind,source=wheelhouse/cuda128/rest/transformers-4.51.3-py3-none-any.whl,target=/wheels/pin-transformers/transformers-4.51.3-py3-none-any.whl \
    --mount=type=bind,source=.imagegate/installer,target=/opt/imagegate-installer \
    printf '%s\n' \
      'transformers==4.51.3 --hash=sha256:fd3279633ceb2b777013234bbf0b4f5c2d23c4626b05497691f00cfda55e8a83' \
      > /tmp/imagegate-requirements.txt && \
    if /opt/imagegate-installer/uv --version >/dev/null 2>&1; then \
      /opt/imagegate-installer/uv pip install --python /opt/venv/bin/python --no-cache \
        --compile-bytecode --no-index --no-deps --require-hashes --only-binary=:all: \
        --find-links /wheels/pin-transformers -r /tmp/imagegate-requirements.txt; \
    else \
      pip install --no-index --no-deps --require-hashes --only-binary=:all: \
        --find-links /wheels/pin-transformers -r /tmp/imagegate-requirements.txt; \
    fi && rm /tmp/imagegate-requirements.txt

# The pin peft, in a step of its own.
# Only the locked wheels, hashes required; bind-mounted, so no wheel stays in the image.
RUN \
    --mount=type=bind,source=wheelhouse/cuda128/rest/peft-0.13.2-py3-none-any.whl,target=/wheels/pin-peft/peft-0.13.2-py3-none-any.whl \
    --mount=type=bind,source=.imagegate/installer,target=/opt/imagegate-installer \
    printf '%s\n' \
      'peft==0.13.2 --hash=sha256:d4e0951ec78eac11c45a051801c569913436888c578d48e5ce86996b715bc6ef' \
      > /tmp/imagegate-requirements.txt && \
    if /opt/imagegate-installer/uv --version >/dev/null 2>&1; then \
      /opt/imagegate-installer/uv pip install --python /opt/venv/bin/python --no-cache \
        --compile-bytecode --no-index --no-deps --require-hashes --only-binary=:all: \
        --find-links /wheels/pin-peft -r /tmp/imagegate-requirements.txt; \
    else \
      pip install --no-index --no-deps --require-hashes --only-binary=:all: \
        --find-links /wheels/pin-peft -r /tmp/imagegate-requirements.txt; \
    fi && rm /tmp/imagegate-requirements.txt

# The pin accelerate, in a step of its own.
# Only the locked wheels, hashes required; bind-mounted, so no wheel stays in the image.
RUN \
    --mount=type=bind,source=wheelhouse/cuda128/rest/accelerate-1.6.0-py3-none-any.whl,target=/wheels/pin-accelerate/accelerate-1.6.0-py3-none-any.whl \
    --mount=type=bind,source=.imagegate/installer,target=/opt/imagegate-installer \
    printf '%s\n' \
      'accelerate==1.6.0 --hash=sha256:1aee717d3d3735ad6d09710a7c26990ee4652b79b4e93df46551551b5227c2aa' \
      > /tmp/imagegate-requirements.txt && \
    if /opt/imagegate-installer/uv --version >/dev/null 2>&1; then \
      /opt/imagegate-installer/uv pip install --python /opt/venv/bin/python --no-cache \
        --compile-bytecode --no-index --no-deps --require-hashes --only-binary=:all: \
        --find-links /wheels/pin-accelerate -r /tmp/imagegate-requirements.txt; \
    else \
      pip install --no-index --no-deps --require-hashes --only-binary=:all: \
        --find-links /wheels/pin-accelerate -r /tmp/imagegate-requirements.txt; \
    fi && rm /tmp/imagegate-requirements.txt
LABEL org.imagegate.python="/opt/venv/bin/python"

# Tiers 1-2, and tier 3 beside them, as a build step: a stack that installs but does not
# import, or cannot load a tiny model, fails the build.
# `imagegate build` builds this stage beside the image (the step runs while the image's
# layers are exported) and takes its reports out of the build as files: they are in no
# image. A plain `docker build` of this file builds the image alone, unchecked.
FROM stack AS smoke
COPY smoke_tests /opt/imagegate/smoke_tests
RUN ["/usr/bin/env", "HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1", "PYTHONDONTWRITEBYTECODE=1", "/opt/venv/bin/python", "/opt/imagegate/smoke_tests/collect.py", "--all-distributions", "--timeout", "120", "--import", "torch", "--import", "numpy", "--import", "transformers", "--import", "peft", "--import", "accelerate", "--statement", "transformers-bnb-config=from transformers import BitsAndBytesConfig", "--statement", "transformers-auto-model=from transformers import AutoModelForCausalLM, AutoConfig", "--statement", "peft-lora=from peft import LoraConfig, get_peft_model", "--statement", "accelerate-empty-weights=from accelerate import init_empty_weights", "--fact", "torch.version.cuda", "--fact", "torch._C._cuda_getArchFlags()", "--fact", "torch.backends.cudnn.version()", "--fact", "torchvision.version.__dict__.get('cuda')", "--exclude", "isympy", "--fail-on-broken", "--output", "/opt/imagegate/build-facts.json", "--models-output", "/opt/imagegate/build-models.json", "--model-arg=--arch=gpt2", "--model-arg=--arch=llama", "--model-arg=--timeout", "--model-arg=120", "--model-arg=--quiet", "--model-arg=--fail-on-broken"]

FROM scratch AS reports
COPY --from=smoke /opt/imagegate/build-facts.json /opt/imagegate/build-models.json /

# The image: the stack the smoke step ran on, and its labels.
FROM stack
# The NVIDIA container runtime refuses to start the image on a host whose driver is too old.
ENV NVIDIA_REQUIRE_CUDA="cuda>=12.8 driver>=525.60.13"
LABEL org.imagegate.profile="cuda128" \
      org.imagegate.lock="sha256:9bd7f8f80de62f46e02a3025561d013b5c9592273aaddb66745bf4f71de9d537" \
      org.opencontainers.image.title="cuda128" \
      org.opencontainers.image.version="9bd7f8f80de6"
