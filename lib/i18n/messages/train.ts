import { defineMessages } from "../define";

// Strings of the train pages and components. Keys: "<component or section>.<what>".
export const train = defineMessages({}, {});
