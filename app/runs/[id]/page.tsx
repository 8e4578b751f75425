import { notFound } from "next/navigation";
import Link from "next/link";
import { z } from "zod";
import { loadJobSnapshot } from "@/lib/jobs/snapshot";
import { RunLive } from "@/components/RunLive";
import { db } from "@/lib/db";
import { runConfigSchema } from "@/lib/schemas/run-config";

export const dynamic = "force-dynamic";

export default async function RunPage({ params }: { params: Promise<{ id: string }> }) {
  const id = z.coerce.number().int().positive().safeParse((await params).id);
  if (!id.success) notFound();
  const [snapshot, job] = await Promise.all([loadJobSnapshot(id.data), db().job.findUnique({ where: { id: id.data } })]);
  if (!snapshot || !job) notFound();
  const config = runConfigSchema.safeParse(JSON.parse(job.config));
  return (
    <div className="space-y-4">
      <div className="flex items-baseline justify-between">
        <h1 className="text-xl font-semibold">
          Run #{job.id}: {job.name}
        </h1>
        <Link href={`/chat?run=${job.id}`} className="text-sm text-indigo-700 hover:underline">
          Chat with this run →
        </Link>
      </div>
      <p className="text-sm text-slate-600">
        {job.modelPath.split("/").at(-1)} · {job.datasets}
        {config.success &&
          ` · lr ${config.data.learning_rate} · ${config.data.num_train_epochs} epochs · batch ${config.data.per_device_train_batch_size}×${config.data.gradient_accumulation_steps} · LoRA r${config.data.lora_rank}/α${config.data.lora_alpha}`}
      </p>
      <RunLive initial={snapshot} />
    </div>
  );
}
