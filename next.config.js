// Tuneboard runs Next.js inside its own HTTP server (server.ts) so that socket.io
// shares the port; that is why there is no `output: 'standalone'` here.
/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // Native and server-only packages stay outside the bundle.
  serverExternalPackages: ["better-sqlite3", "@prisma/adapter-better-sqlite3", "pg", "@prisma/adapter-pg", "socket.io"],
};

export default nextConfig;
