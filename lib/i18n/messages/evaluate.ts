import { defineMessages } from "../define";

// Strings of the evaluate pages and components. Keys: "<component or section>.<what>".
export const evaluate = defineMessages({}, {});
