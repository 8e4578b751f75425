import { defineMessages } from "../define";

// Strings of the workers pages and components. Keys: "<component or section>.<what>".
export const workers = defineMessages({}, {});
