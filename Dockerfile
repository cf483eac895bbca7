# syntax=docker/dockerfile:1
#
# authsmtp container image: a static binary on distroless (CA certificates,
# tzdata, a "nonroot" user, no shell), one volume for the data directory.
#
# The build stage runs scripts/build-image.sh, the same script .ci/run
# runs without a container engine, so a broken build step fails CI.
#
#   docker build -t authsmtp .
#   docker run -d --name authsmtp -v authsmtp-data:/data \
#     -p 25:25 -p 465:465 -p 587:587 -p 143:143 -p 993:993 -p 80:80 -p 443:443 \
#     -e AUTHSMTP_HOSTNAME=mail.example.com authsmtp

FROM golang:1.26-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libcap2-bin \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# SMOKE=0: the build container has no network listeners to test; CI runs
# the smoke test.
RUN SMOKE=0 VERSION=${VERSION} bash scripts/build-image.sh /out

FROM gcr.io/distroless/static-debian12:nonroot
# No --chown on the binary: changing the owner drops the file capability
# (cap_net_bind_service) that lets the non-root user bind ports < 1024.
COPY --from=build /out/rootfs/authsmtp /authsmtp
COPY --from=build --chown=65532:65532 /out/rootfs/data /data
ENV AUTHSMTP_DATA=/data
VOLUME /data
EXPOSE 25 465 587 143 993 80 443
USER 65532:65532
# The image has no curl: the binary checks its own /healthz on --https.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["/authsmtp", "healthcheck"]
# SIGTERM stops gracefully within --grace (20s): give docker stop more.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/authsmtp"]
CMD ["serve"]
