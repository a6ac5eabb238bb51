# Rendered by imagegate from profiles/rocm57.yaml and pylock.rocm57.toml; do not edit: change the
# profile, then run `imagegate lock rocm57` and `imagegate render rocm57`.
# AMD Instinct (gfx90a, gfx942) on ROCm 5.7: torch 2.3.1+rocm5.7 and torchvision
# 0.18.1+rocm5.7 from the PyTorch rocm5.7 index (the stack of seed 003).
# Build with BuildKit from the project root: `imagegate build rocm57`.
ARG BASE_IMAGE=rocm/dev-ubuntu-22.04:5.7
FROM ${BASE_IMAGE} AS stack
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
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
    --mount=type=bind,source=wheelhouse/rocm57/protected,target=/wheels/protected \
    --mount=type=bind,source=.imagegate/installer,target=/opt/imagegate-installer \
    if /opt/imagegate-installer/uv --version >/dev/null 2>&1; then \
      /opt/imagegate-installer/uv pip install --python /opt/venv/bin/python --no-cache \
        --compile-bytecode --no-index --no-deps --require-hashes --only-binary=:all: \
        --find-links /wheels/protected -r /wheels/protected/requirements.txt; \
    else \
      pip install --no-index --no-deps --require-hashes --only-binary=:all: \
        --find-links /wheels/protected -r /wheels/protected/requirements.txt; \
    fi

# Everything else in the lock.
# Only the locked wheels, hashes required; bind-mounted, so no wheel stays in the image.
RUN \
    --mount=type=bind,source=wheelhouse/rocm57/rest,target=/wheels/rest \
    --mount=type=bind,source=.imagegate/installer,target=/opt/imagegate-installer \
    if /opt/imagegate-installer/uv --version >/dev/null 2>&1; then \
      /opt/imagegate-installer/uv pip install --python /opt/venv/bin/python --no-cache \
        --compile-bytecode --no-index --no-deps --require-hashes --only-binary=:all: \
        --find-links /wheels/rest -r /wheels/rest/requirements.txt; \
    else \
      pip install --no-index --no-deps --require-hashes --only-binary=:all: \
        --find-links /wheels/rest -r /wheels/rest/requirements.txt; \
    fi
LABEL org.imagegate.python="/opt/venv/bin/python"

# Tiers 1-2, and tier 3 beside them, as a build step: a stack that installs but does not
# import, or cannot load a tiny model, fails the build.
# `imagegate build` builds this stage beside the image (the step runs while the image's
# layers are exported) and takes its reports out of the build as files: they are in no
# image. A plain `docker build` of this file builds the image alone, unchecked.
FROM stack AS smoke
COPY smoke_tests /opt/imagegate/smoke_tests
RUN ["/usr/bin/env", "HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1", "PYTHONDONTWRITEBYTECODE=1", "/opt/venv/bin/python", "/opt/imagegate/smoke_tests/collect.py", "--all-distributions", "--timeout", "120", "--import", "torch", "--import", "numpy", "--import", "transformers", "--import", "peft", "--import", "accelerate", "--statement", "transformers-bnb-config=from transformers import BitsAndBytesConfig", "--statement", "transformers-auto-model=from transformers import AutoModelForCausalLM, AutoConfig", "--statement", "peft-lora=from peft import LoraConfig, get_peft_model", "--statement", "accelerate-empty-weights=from accelerate import init_empty_weights", "--fact", "torch.version.cuda", "--fact", "torch.version.hip[:3]", "--fact", "torch.backends.cudnn.version()", "--fact", "torchvision.version.__dict__.get('cuda')", "--exclude", "isympy", "--fail-on-broken", "--output", "/opt/imagegate/build-facts.json", "--models-output", "/opt/imagegate/build-models.json", "--model-arg=--arch=gpt2", "--model-arg=--arch=llama", "--model-arg=--timeout", "--model-arg=120", "--model-arg=--quiet", "--model-arg=--fail-on-broken"]

FROM scratch AS reports
COPY --from=smoke /opt/imagegate/build-facts.json /opt/imagegate/build-models.json /

# The image: the stack the smoke step ran on, and its labels.
FROM stack
LABEL org.imagegate.profile="rocm57" \
      org.imagegate.lock="none: not locked" \
      org.opencontainers.image.title="rocm57" \
      org.opencontainers.image.version="unlocked"
