import { defineMessages } from "../define";

// Strings of the login and logout pages (token mode; served by server.ts, lib/security/login.ts).
export const auth = defineMessages(
  {
    "login.title": "Log in",
    "login.token": "Access token",
    "login.submit": "Log in",
    "login.wrong": "Wrong token.",
    "login.throttled": "Too many wrong tokens. Try again in {seconds} s.",
    "login.tooLarge": "Request too large.",
    "logout.title": "Log out",
    "logout.submit": "Log out",
  },
  {
    "login.title": "登录",
    "login.token": "访问令牌",
    "login.submit": "登录",
    "login.wrong": "令牌错误。",
    "login.throttled": "错误次数过多，请 {seconds} 秒后再试。",
    "login.tooLarge": "请求过大。",
    "logout.title": "退出登录",
    "logout.submit": "退出登录",
  },
);
