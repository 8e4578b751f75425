#!/bin/sh
# Stand-in for Prisma's schema-engine binary where none is installed (it cannot be downloaded on
# offline machines). prisma.config.ts points PRISMA_SCHEMA_ENGINE_BINARY here only when no real
# binary is present, so that `prisma generate` works offline (it never runs the engine).
echo "No Prisma schema-engine binary on this machine: use npm run migrate (tsx prisma/migrate.ts deploy|dev|status), see prisma/README.md" >&2
exit 1
