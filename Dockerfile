# herald's manager image: `make docker-build IMG=...` (needs a Docker engine).

# Build stage: a static binary (no cgo), without local paths, stripped.
FROM golang:1.26 AS builder
WORKDIR /src
# The modules first, in a layer of their own: it is rebuilt only when
# go.mod or go.sum change, not on every source change.
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/
# The release version, reported by --version and in the User-Agent of calls.
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/herald-operator/herald/internal/version.Version=${VERSION}" \
      -o /herald ./cmd/herald

# Final stage: the binary alone, on distroless (CA certificates, tzdata, no
# shell), as the unprivileged user 65532 that config/manager also sets.
FROM gcr.io/distroless/static:nonroot
COPY --from=builder /herald /herald
USER 65532:65532
ENTRYPOINT ["/herald"]
