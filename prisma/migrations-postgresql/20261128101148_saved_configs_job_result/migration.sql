-- AlterTable
ALTER TABLE "Job" ADD COLUMN     "result" TEXT;

-- CreateTable
CREATE TABLE "SavedConfig" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "config" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "SavedConfig_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "SavedConfig_name_key" ON "SavedConfig"("name");
