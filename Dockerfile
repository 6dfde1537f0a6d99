# crd-state-metrics container image.
#
#   buildah bud -t crd-state-metrics .        (or: docker build -t crd-state-metrics .)
#
# The base is Debian bookworm under the name localhost/debian:bookworm, which
# scripts/image-test makes with debootstrap (no registry needed); with registry
# access pass --build-arg BASE=docker.io/library/debian:bookworm instead.
#
# Stage 1 compiles with meson (the same build as the tests, debug info
# stripped); stage 2 is FROM scratch and holds only the binary, the shared
# libraries ldd lists for it (with the dynamic loader) and those libraries'
# Debian copyright files: no shell, no package manager, no other files.
ARG BASE=localhost/debian:bookworm

FROM ${BASE} AS builder
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      gcc libc6-dev meson ninja-build pkg-config \
      libcurl4-openssl-dev libcjson-dev libevent-dev libssl-dev libyaml-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY meson.build meson_options.txt ./
COPY include/ include/
COPY generators/ generators/
COPY src/ src/
COPY tests/ tests/
RUN meson setup /build /src --prefix=/usr -Dtests=disabled -Dbench=false \
 && meson compile -C /build \
 && meson install -C /build --destdir /out --strip \
 && /out/usr/bin/crd-state-metrics --version \
 && ldd /out/usr/bin/crd-state-metrics \
    | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' >/tmp/libs \
 && while read -r lib; do \
      cp -L --parents "$lib" /out; \
      pkg="$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -n1 | cut -d: -f1)"; \
      if [ -n "$pkg" ] && [ -f "/usr/share/doc/$pkg/copyright" ]; then \
        mkdir -p "/out/usr/share/doc/$pkg" && cp "/usr/share/doc/$pkg/copyright" "/out/usr/share/doc/$pkg/"; \
      fi; \
    done </tmp/libs \
 && find /out -type f | sort

FROM scratch
COPY --from=builder /out/ /
# A numeric user, so that runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
EXPOSE 8389 8390
ENTRYPOINT ["/usr/bin/crd-state-metrics"]
LABEL org.opencontainers.image.title="crd-state-metrics" \
      org.opencontainers.image.description="Prometheus metrics about Kubernetes custom resources" \
      org.opencontainers.image.licenses="Apache-2.0"
