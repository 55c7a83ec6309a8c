# The suite's own container for `docker compose up --build --abort-on-container-exit`: the Node.js
# Lambda runs (nodejs22.x), the project's locked dependencies, then `npm test` against the compose
# file's PostgreSQL and Redis. Its exit status is the suite's.
FROM node:22-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
CMD ["npm", "test"]
