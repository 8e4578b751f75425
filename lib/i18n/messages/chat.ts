import { defineMessages } from "../define";

// Strings of the chat pages and components. Keys: "<component or section>.<what>".
export const chat = defineMessages({}, {});
