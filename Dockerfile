# Prorata server image: multi-stage, Debian slim, running as a non-root user.
#
#   docker build -t prorata .
#   docker run -p 8080:8080 -v prorata-data:/var/lib/prorata \
#     -e PRORATA_DATABASE_URL=postgres://prorata@db/prorata prorata
#
# Not built in this repository's CI or sandbox (no container engine there): see README.

# --- build -----------------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# SQLite and ring are compiled from source (cc, from the image); nothing else is needed.
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY catalog ./catalog
COPY examples ./examples
COPY docs ./docs
RUN cargo build --release --locked -p prorata \
    && cp target/release/prorata /usr/local/bin/prorata

# --- run -------------------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/prorata --create-home prorata
COPY --from=build /usr/local/bin/prorata /usr/local/bin/prorata
USER prorata:prorata
# data/ (the SQLite file, .eml files, the secret key when not given) lives in the volume.
WORKDIR /var/lib/prorata
VOLUME /var/lib/prorata
ENV PRORATA_LISTEN=0.0.0.0:8080 \
    PRORATA_LOG_FORMAT=json
EXPOSE 8080
# What orchestrators send; serve drains within PRORATA_SHUTDOWN_GRACE (30 s by default, keep
# it under the orchestrator's own kill timeout).
STOPSIGNAL SIGTERM
ENTRYPOINT ["prorata"]
CMD ["serve"]
