-- AlterTable
ALTER TABLE "Job" ADD COLUMN "seq" INTEGER;

-- Number the existing jobs within their kind, in the order they were queued.
UPDATE "Job" SET "seq" = (SELECT COUNT(*) FROM "Job" AS "earlier" WHERE "earlier"."kind" = "Job"."kind" AND "earlier"."id" <= "Job"."id");

-- CreateIndex
CREATE UNIQUE INDEX "Job_kind_seq_key" ON "Job"("kind", "seq");
