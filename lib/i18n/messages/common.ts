import { defineMessages } from "../define";

// Strings shared by every page: navigation, the language switch, generic states.
export const common = defineMessages(
  {
    "nav.main": "Main",
    "nav.train": "Train",
    "nav.runs": "Runs",
    "nav.compare": "Compare",
    "nav.datasets": "Datasets",
    "nav.chat": "Chat",
    "nav.evaluate": "Evaluate",
    "nav.workers": "Workers",
    "lang.label": "Language",
    "loading": "Loading…",
    "error.title": "Something went wrong",
    "error.retry": "Try again",
    "none": "—",
  },
  {
    "nav.main": "主导航",
    "nav.train": "训练",
    "nav.runs": "运行记录",
    "nav.compare": "对比",
    "nav.datasets": "数据集",
    "nav.chat": "对话",
    "nav.evaluate": "评估",
    "nav.workers": "工作节点",
    "lang.label": "语言",
    "loading": "加载中…",
    "error.title": "出错了",
    "error.retry": "重试",
    "none": "—",
  },
);
