import { Loading } from "@/components/Loading";

export default function SegmentLoading() {
  return <Loading what="home" />;
}
