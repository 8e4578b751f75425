import { defineMessages } from "../define";

// Strings of the runs pages and components. Keys: "<component or section>.<what>".
export const runs = defineMessages({}, {});
