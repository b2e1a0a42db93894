# gqlauth: a static binary on a distroless base, running as a non-root user.
#   docker build -t gqlauth .
#   docker compose up          (see docker-compose.yml and docs/operations.md, "Deployment")

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so that a code change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO off: the SQLite driver is pure Go, so the binary needs no libc.
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/gqlauth ./cmd/gqlauth \
    && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gqlauth /usr/local/bin/gqlauth
# /data is where a SQLite database (DATABASE_URL=sqlite:///data/gqlauth.db) can live.
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
USER 65532:65532
ENV APP_ENV=production \
    PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/gqlauth", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/gqlauth"]
CMD ["serve"]
