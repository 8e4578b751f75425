-- CreateTable
CREATE TABLE "Session" (
    "idHash" TEXT NOT NULL,
    "expiresAt" DOUBLE PRECISION NOT NULL,
    "lastSeenAt" DOUBLE PRECISION NOT NULL,
    "address" TEXT NOT NULL DEFAULT '',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Session_pkey" PRIMARY KEY ("idHash")
);

-- CreateIndex
CREATE INDEX "Session_expiresAt_idx" ON "Session"("expiresAt");
