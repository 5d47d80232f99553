# Berth as registry:2's image is used:
#   docker run -d -p 5000:5000 -v /srv/registry:/var/lib/registry --name registry berth
#   docker run … -v "$PWD/auth:/auth" -e REGISTRY_AUTH=htpasswd -e REGISTRY_AUTH_HTPASSWD_REALM="Registry Realm" \
#     -e REGISTRY_AUTH_HTPASSWD_PATH=/auth/htpasswd -v "$PWD/certs:/certs" \
#     -e REGISTRY_HTTP_TLS_CERTIFICATE=/certs/domain.crt -e REGISTRY_HTTP_TLS_KEY=/certs/domain.key berth
#   docker exec registry registry garbage-collect /etc/docker/registry/config.yml

FROM node:20-bookworm-slim AS build
WORKDIR /src
# better-sqlite3 builds from source when no prebuilt binary fits.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /opt/berth
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY packaging/config.yml /etc/docker/registry/config.yml
COPY packaging/registry /usr/local/bin/registry
# A non-root user owning the data directory (uid/gid 1000 is `node` in the base image).
RUN ln -s /opt/berth/dist/cli/main.cjs /usr/local/bin/berth \
 && mkdir -p /var/lib/registry /auth /certs \
 && chown node:node /var/lib/registry
USER node
VOLUME ["/var/lib/registry"]
EXPOSE 5000
ENTRYPOINT ["/usr/local/bin/registry"]
CMD ["/etc/docker/registry/config.yml"]
