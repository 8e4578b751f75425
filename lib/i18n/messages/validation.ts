import { defineMessages } from "../define";

// Chinese for the English messages our zod schemas and request checks produce. The schemas keep
// their English literals (they stay readable, and English output is unchanged); each English value
// here is a template matched against a whole message: `{field}` must be a form label (it is
// replaced by that label's Chinese, so a message names the field as the form does), any other
// `{x}` is copied verbatim (numbers, names, paths). lib/i18n/validation.ts applies them;
// lib/i18n/validation.test.ts fails when a schema message has no entry here.
// Generic issues (a bare .min(0), an unknown enum value) come from zod's own zh-CN locale.
export const validation = defineMessages(
  {
    // Numbers (lib/schemas/run-config.ts, eval-config.ts, export-config.ts).
    "number": "{field} must be a number",
    "int": "{field} must be a whole number",
    "gte": "{field} must be ≥ {n}",
    "gt": "{field} must be > {n}",
    "lte": "{field} must be ≤ {n}",
    "lt": "{field} must be < {n}",
    "below": "{field} must be below {n}",
    "unitInterval": "{field} must be in [0, 1)",
    "gteBare": "must be ≥ {n}",
    "valSize": "{field} is a fraction below 1 or a whole number of samples",
    // Choices.
    "chooseModel": "choose a model",
    "chooseDataset": "choose at least one dataset",
    "chooseModule": "choose at least one module",
    "unknownTemplate": "unknown template",
    "method": "{field} must be lora, freeze or full",
    "fastPath": "fast path must be auto, on or off",
    "device": "{field} must be auto, cpu, cuda or cuda:N",
    // Saved configurations (lib/configs/saved.ts).
    "configName": "give the configuration a name",
    "maxChars": "{n} characters at most",
    // Request checks (lib/models.ts, lib/datasets/registry.ts, lib/jobs/create-run.ts): paths stay.
    "modelMissing": "model path does not exist: {path}",
    "modelOutside": "model path must be inside the model roots ({roots})",
    "notModelDir": "not a model directory (no config.json): {path}",
    "badConfig": "config.json is not valid: {path}",
    "badArch": "unsupported architecture {arch} (supported: {list})",
    "noWeights": "no safetensors weights in {path}",
    "noTokenizer": "no tokenizer.json in {path}",
    "datasetEmpty": "dataset \"{name}\" has no records",
    "datasetHub": "dataset \"{name}\" is a hub dataset, not a local file",
    "datasetUnregistered": "dataset \"{name}\" is not registered in dataset_info.json",
    "resumeOutside": "not a checkpoint under the runs folder ({path})",
    "resumeNoState": "this folder has no trainer_state.pt: not a checkpoint",
  },
  {
    "number": "{field}必须是数字",
    "int": "{field}必须是整数",
    "gte": "{field}必须 ≥ {n}",
    "gt": "{field}必须 > {n}",
    "lte": "{field}必须 ≤ {n}",
    "lt": "{field}必须 < {n}",
    "below": "{field}必须小于 {n}",
    "unitInterval": "{field}必须在 [0, 1) 范围内",
    "gteBare": "必须 ≥ {n}",
    "valSize": "{field}应为小于 1 的比例，或整数个样本",
    "chooseModel": "请选择模型",
    "chooseDataset": "请至少选择一个数据集",
    "chooseModule": "请至少选择一个模块",
    "unknownTemplate": "未知的模板",
    "method": "{field}必须是 lora、freeze 或 full",
    "fastPath": "GPU 快速路径必须是 auto、on 或 off",
    "device": "{field}必须是 auto、cpu、cuda 或 cuda:N",
    "configName": "请为配置命名",
    "maxChars": "最多 {n} 个字符",
    "modelMissing": "模型路径不存在：{path}",
    "modelOutside": "模型路径必须位于模型根目录内（{roots}）",
    "notModelDir": "不是模型目录（缺少 config.json）：{path}",
    "badConfig": "config.json 无效：{path}",
    "badArch": "不支持的架构 {arch}（支持：{list}）",
    "noWeights": "{path} 中没有 safetensors 权重",
    "noTokenizer": "{path} 中没有 tokenizer.json",
    "datasetEmpty": "数据集“{name}”没有记录",
    "datasetHub": "数据集“{name}”是 Hub 数据集，不是本地文件",
    "datasetUnregistered": "数据集“{name}”未在 dataset_info.json 中注册",
    "resumeOutside": "不是运行目录下的检查点（{path}）",
    "resumeNoState": "该文件夹没有 trainer_state.pt：不是检查点",
  },
);
