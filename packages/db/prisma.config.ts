// Used by `prisma generate` only; migrations run through src/migrate (Prisma's WebAssembly engine).
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
});
