import { defineMessages } from "../define";

// Strings of the datasets pages and components. Keys: "<component or section>.<what>".
export const datasets = defineMessages({}, {});
