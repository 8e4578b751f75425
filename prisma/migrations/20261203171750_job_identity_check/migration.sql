-- AlterTable
ALTER TABLE "Job" ADD COLUMN "identityCheck" TEXT;

-- Move the Identity checks stored as Setting rows run.<id>.identityCheck onto their runs; rows of
-- runs that no longer exist go as well.
UPDATE "Job" SET "identityCheck" = (SELECT "value" FROM "Setting" WHERE "key" = 'run.' || "Job"."id" || '.identityCheck');
DELETE FROM "Setting" WHERE "key" LIKE 'run.%.identityCheck';
