// What pages call a job: its number among the jobs of its kind (Job.seq, given by enqueueJob),
// so runs count 1, 2, 3 whatever evaluations and exports were queued in between. URLs keep the
// database id; a row written before numbering existed has none, and shows its id.
export const jobNumber = (job: { id: number; seq: number | null }): number => job.seq ?? job.id;
