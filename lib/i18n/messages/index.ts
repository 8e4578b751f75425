// All dictionaries, one file per area so that each page's strings live together.
import { common } from "./common";
import { runs } from "./runs";
import { train } from "./train";
import { datasets } from "./datasets";
import { chat } from "./chat";
import { evaluate } from "./evaluate";
import { workers } from "./workers";
import { validation } from "./validation";
import { auth } from "./auth";
import { settings } from "./settings";

export const AREAS = { common, runs, train, datasets, chat, evaluate, workers, validation, auth, settings };
export type Area = keyof typeof AREAS;
